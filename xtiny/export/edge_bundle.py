"""Write an XTiny edge bundle: ``preprocess.json`` from the plans, ``manifest.json`` (sha256 + versions),
and a model card ``README.md``."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from xtiny.atomic import atomic_write_json, atomic_write_text
from xtiny.edge.bundle import FORMAT_VERSION, MANIFEST, PREPROCESS, bundle_files, sha256_of
from xtiny.errors import XTinyError
from xtiny.export.onnx_export import INPUT_NAME, OUTPUT_NAME, stride_product
from xtiny.nnunet.trained import TrainedModel
from xtiny.versions import stack_versions


def preprocess_description(model: TrainedModel, models: dict[str, str]) -> dict:
    """Everything the edge runtime needs to redo nnU-Net's preprocessing and inference for this model."""
    from xtiny.nnunet.plans import plans_manager

    plans = plans_manager(model.plans)
    config = plans.get_configuration(model.configuration)
    labels = plans.get_label_manager(model.dataset_json)
    if labels.has_regions:
        raise XTinyError(f"{model.dataset_name}: region-based training is not supported by the edge runtime yet.",
                         fix="export with --format onnx,torchscript and use nnU-Net's predictor.")
    channels = model.dataset_json.get("channel_names", model.dataset_json.get("modality", {}))
    return {
        "format_version": FORMAT_VERSION,
        "dataset": model.dataset_name,
        "configuration": model.configuration,
        "trainer": model.trainer_name,
        "fold": model.fold,
        "num_input_channels": len(channels),
        "channel_names": channels,
        "normalization_schemes": list(config.normalization_schemes),
        "use_mask_for_norm": [bool(x) for x in config.use_mask_for_norm],
        "intensity_properties": plans.foreground_intensity_properties_per_channel,
        "spacing": [float(s) for s in config.spacing],
        "patch_size": [int(p) for p in config.patch_size],
        "stride_product": stride_product(model.plans, model.configuration),
        "transpose_forward": list(plans.transpose_forward),
        "transpose_backward": list(plans.transpose_backward),
        "labels": model.dataset_json["labels"],
        "file_ending": model.dataset_json["file_ending"],
        "mirroring_axes": model.mirroring_axes,
        "tile_step_size": 0.5,
        "gaussian_sigma_scale": 0.125,
        "resampling": {"data": "linear", "logits": "linear",
                       "note": "nnU-Net resamples data with 3rd-order splines; the edge runtime uses linear"},
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "models": models,
    }




def write_manifest(folder: Path, extra: dict | None = None) -> Path:
    """``manifest.json``: sha256 and size of every other file in the folder, plus versions."""
    files = {rel: {"sha256": sha256_of(folder / rel), "bytes": (folder / rel).stat().st_size}
             for rel in bundle_files(folder)}
    manifest = {"format": "xtiny-edge-bundle", "format_version": FORMAT_VERSION,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "versions": stack_versions(), "files": files, **(extra or {})}
    return atomic_write_json(folder / MANIFEST, manifest)


def speed_section(speed: dict | None) -> str:
    """The model card's speed table (engines x threads x formats, measured at export), or nothing."""
    if not speed or not speed.get("rows"):
        return ""
    from xtiny.export.speed import speed_table

    return f"""
## Speed on the export machine
One network input {speed['tile']} (one slice of a 2D model, one tile of a 3D model) on {speed['machine']},
{speed['physical_cores']} physical core(s); a few runs each at export, so orientation only. "tiles/s" is the
network alone on the batches `xtiny predict` sends by default (slices of a volume, frames, images of a folder),
batch size in brackets; `xtiny predict --engine auto` picks the faster engine on the device it runs on.

{speed_table(speed)}
"""


def checks_section(checks: dict | None) -> str:
    """The model card's export checks: each model against the PyTorch network (``xtiny.export.fidelity``)."""
    if not checks:
        return ""
    from xtiny.export.fidelity import CHECK_HEADER, check_rows

    lines = ["| " + " | ".join(CHECK_HEADER) + " |", "|" + "---|" * len(CHECK_HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in check_rows(checks)]
    table = "\n".join(lines)
    return f"""
## Export checks
Each model file against the PyTorch network on {checks.get('inputs', 'real patches')}; max rel diff is max |diff| over
the largest logit. Rule: {checks.get('rule', '')}.

{table}
"""


def mirroring_section(metrics: dict) -> str:
    """What mirroring (test-time augmentation) buys on the held-out cases, or nothing if not measured."""
    if "mirroring_dice_gain" not in metrics:
        return ""
    return f"""
## Mirroring
`xtiny predict` runs without mirroring unless `--mirroring` is given: mirroring costs 4 network passes per 2D tile
(8 in 3D). On the {metrics.get('validation_cases', '?')} held-out validation case(s), fp32 Dice is
{metrics['dice_fp32']:.4f} without and {metrics['dice_fp32_mirroring']:.4f} with mirroring (difference
{metrics['mirroring_dice_gain']:+.4f}).
"""


def model_card(model: TrainedModel, pre: dict, metrics: dict) -> str:
    """The bundle's README.md: data, metrics, intended use, limits, recommended model file."""
    def fmt(value) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    rows = "\n".join(f"| {k} | {fmt(v)} |" for k, v in metrics.items() if not isinstance(v, dict))
    rec = metrics.get("recommended_model", pre["models"].get("fp32"))
    # None where an epoch ran without validation batches (e.g. the MONAI backend with val_iterations=0)
    train_dice = [v for v in model.checkpoint.get("logging", {}).get("mean_fg_dice", []) if v is not None]
    return f"""# {model.dataset_name} — {model.configuration} (fold {model.fold})

XTiny edge bundle exported from nnU-Net trainer `{model.trainer_name}`
(`{model.trainer_folder.name}`), checkpoint `{model.checkpoint_path.name}`, epoch {model.checkpoint.get('current_epoch')}.

## Data
- Dataset `{model.dataset_name}`, channels {pre['channel_names']}, labels {pre['labels']}, file ending `{pre['file_ending']}`.
- Preprocessing (from the nnU-Net plans): normalization {pre['normalization_schemes']}, target spacing {pre['spacing']},
  patch {pre['patch_size']}, transpose {pre['transpose_forward']}. Training log pseudo-Dice (last epoch):
  {fmt(float(train_dice[-1])) if train_dice else 'n/a'}.

## Metrics (measured at export time, on this machine)
| metric | value |
|---|---|
{rows}

Recommended model on the export machine: **`{rec}`** (smallest latency among the formats whose validation Dice
is within 1 point of fp32; see `latency_ms_*` above).
{checks_section(metrics.get("checks"))}{speed_section(metrics.get("speed"))}{mirroring_section(metrics)}
## Intended use
Research and edge deployment experiments: segmentation of images acquired like the training data, with the
same channels and file format. Run with `xtiny predict BUNDLE -i IN -o OUT` (numpy + onnxruntime; OpenVINO too
with `pip install 'xtiny[openvino]'`: `--engine auto`, the default, keeps the faster on the device).

## Limits
- Not a medical device; not validated for clinical use.
- Only as good as its training data ({model.dataset_name}); expect failures on other scanners, protocols or
  populations. Metrics above come from the training split's validation fold, not an external test set.
- The edge runtime resamples with linear interpolation where nnU-Net uses splines; images at the training
  spacing (all 2D PNG) are unaffected.
- INT8 models are calibrated on a few training patches (MinMax, per-channel weights, the final segmentation
  convolution kept in fp32); re-check Dice on your data before relying on them.
"""


def write_edge_bundle(folder: Path, model: TrainedModel, models: dict[str, str], metrics: dict) -> Path:
    """Write preprocess.json + README.md into ``folder`` (ONNX files already there), then the manifest."""
    pre = preprocess_description(model, models)
    for rel in models.values():
        if not (folder / rel).is_file():
            raise XTinyError(f"edge bundle {folder}: model file {rel} was not written.")
    atomic_write_json(folder / PREPROCESS, pre)
    atomic_write_text(folder / "README.md", model_card(model, pre, metrics))
    return write_manifest(folder, {"metrics": metrics})
