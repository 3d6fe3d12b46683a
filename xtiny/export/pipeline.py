"""``export_model``: trained checkpoint → ONNX fp32, INT8 (QDQ + QOperator), TorchScript, MONAI bundle and
XTiny edge bundle, each checked; a JSON report next to them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xtiny.atomic import atomic_write_json, recover_tree, replace_tree
from xtiny.console import say
from xtiny.errors import XTinyError
from xtiny.registry import Registry

FORMATS: Registry[str] = Registry("export format", [("onnx", "ONNX fp32"), ("int8", "ONNX INT8 (QDQ and QOperator)"),
                                                    ("torchscript", "TorchScript"), ("monai", "MONAI bundle"),
                                                    ("bundle", "XTiny edge bundle")])
MODEL_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx", "int8_qoperator": "model.int8_qoperator.onnx"}
STAGING = ".export-staging"  # everything is written here first, then swapped into place folder by folder
PRODUCTS = ("edge", "torchscript", "monai_bundle")


def parse_formats(text: str | list[str]) -> list[str]:
    """``"onnx,int8"`` → validated list; ``all`` → every format."""
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if items == ["all"]:
        return list(FORMATS)
    unknown = [t for t in items if t not in FORMATS]
    if unknown or not items:
        raise XTinyError(f"unknown export format(s): {', '.join(unknown) or '(none)'}.",
                         fix=f"use a comma-separated subset of {','.join(FORMATS)} or 'all'.")
    return items


def fp32_record(fidelity) -> dict:
    """The record of an fp32 format's check, which it passed (:func:`xtiny.export.fidelity.check_export` refuses
    the others)."""
    return {**fidelity.record(), "passed": True}


def check_summary(check: dict) -> str:
    """One log line's worth of a check: max abs and relative diff, label agreement."""
    return (f"max |diff| {check['max_abs_diff']:.2e} (relative to the largest logit {check['max_rel_diff']:.1e}), "
            f"argmax labels agree on {100 * check['label_agreement']:.3f} % of {check['voxels']} voxels")


@dataclass(frozen=True)
class ExportSettings:
    """What :func:`export_model` exports and from which model: ``formats`` (None: every format), the ``trainer``
    (None: the configuration's only one) and its ``checkpoint_name``; how much data checks it: at most
    ``max_val_cases`` validation cases for the Dice checks, ``calibration_patches`` patches to calibrate INT8."""

    formats: tuple[str, ...] | None = None
    trainer: str | None = None
    checkpoint_name: str = "checkpoint_final.pth"
    max_val_cases: int = 8
    calibration_patches: int = 16


def export_model(dataset: str | int, configuration: str, fold: int | str = 0,
                 settings: ExportSettings | None = None, *, output_dir: str | Path | None = None,
                 log: Callable[[str], None] = say) -> dict:
    """Export a trained model with ``settings`` (None: :class:`ExportSettings`' defaults) into ``output_dir``
    (None: :func:`xtiny.artifacts.export_dir`); returns the report (also written to
    ``OUTPUT/export_report.json``)."""
    import torch

    from xtiny.artifacts import export_dir
    from xtiny.export.data import export_data
    from xtiny.export.evaluate import latency_ms, onnx_validation_dice, recommend
    from xtiny.export.fidelity import RULE, check_export, int8_dice_check
    from xtiny.export.onnx_export import (
        export_onnx,
        export_torchscript,
        load_torchscript,
        onnx_logits,
        stride_product,
        torch_logits,
    )
    from xtiny.export.speed import engine_speed
    from xtiny.nnunet.names import resolve_dataset_name
    from xtiny.nnunet.trained import build_trained_network, load_trained_model

    settings = settings or ExportSettings()
    formats = parse_formats(list(FORMATS if settings.formats is None else settings.formats))
    name = resolve_dataset_name(dataset)
    model = load_trained_model(name, configuration, fold, trainer=settings.trainer,
                               checkpoint_name=settings.checkpoint_name)
    net = build_trained_network(model)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(output_dir) if output_dir else export_dir(name, configuration, fold)
    out.mkdir(parents=True, exist_ok=True)
    for product in PRODUCTS:
        recover_tree(out / product)
    stage = out / STAGING

    def final(path: Path | str) -> Path:
        """Where a staged file ends up."""
        return out / Path(path).relative_to(stage)

    if stage.exists():
        shutil.rmtree(stage)  # left by an interrupted export
    log(f"[export] {model.trainer_folder.name}/fold_{fold}/{model.checkpoint_path.name} -> {out}")

    data = export_data(name, model.plans, configuration, fold, settings.calibration_patches)
    patch, real = data.patch, data.calibration
    report: dict = {"dataset": name, "configuration": configuration, "fold": fold, "trainer": model.trainer_name,
                    "checkpoint": str(model.checkpoint_path), "formats": formats, "files": {}, "metrics": {}}
    metrics = report["metrics"]
    edge = stage / "edge"
    inputs = real + [np.tile(real[0], [2, 1] + [2] * len(patch))]  # + dynamic batch and spatial size
    reference = torch_logits(net, inputs)
    checks = metrics["checks"] = {"rule": RULE, "inputs": f"{len(real)} real patches + one {list(inputs[-1].shape)} "
                                                          "batch of the first, tiled"}
    needs_onnx = any(f in formats for f in ("onnx", "int8", "bundle"))
    models: dict[str, str] = {}
    if needs_onnx:
        onnx_path = export_onnx(net, edge / MODEL_FILES["fp32"], real[0])
        checks["fp32"] = fp32_record(check_export("ONNX export", onnx_path, reference, onnx_logits(onnx_path, inputs)))
        metrics["stride_product"] = stride_product(model.plans, configuration)
        log(f"[export] ONNX opset 17, checker ok; vs torch on {checks['inputs']}: {check_summary(checks['fp32'])}")
        models["fp32"] = MODEL_FILES["fp32"]
        report["files"]["onnx"] = str(onnx_path)
    if "int8" in formats:
        from xtiny.export.quantize import quantize_int8

        for variant, fmt in (("int8", "qdq"), ("int8_qoperator", "qoperator")):
            quantize_int8(edge / MODEL_FILES["fp32"], edge / MODEL_FILES[variant], real, fmt=fmt)
            models[variant] = MODEL_FILES[variant]
            report["files"][variant] = str(edge / MODEL_FILES[variant])
            checks[variant] = check_export("INT8 model", edge / MODEL_FILES[variant], reference,
                                           onnx_logits(edge / MODEL_FILES[variant], inputs), enforce=False).record()
        log(f"[export] INT8 static quantization (per-channel, QDQ and QOperator, segmentation head in fp32) "
            f"calibrated on {len(real)} patches")
    if models:
        labels = model.dataset_json["labels"]
        val_cases = data.validation_cases(settings.max_val_cases)
        metrics.update(onnx_validation_dice({k: edge / v for k, v in models.items()}, val_cases, patch, len(labels),
                                            mirror_axes=model.mirroring_axes))
        metrics["validation_cases"] = len(val_cases)
        for key, rel in models.items():
            metrics[f"size_bytes_{key}"] = (edge / rel).stat().st_size
            metrics[f"latency_ms_{key}"] = latency_ms(edge / rel, real[0], threads=1)
        for variant in [k for k in models if k != "fp32"]:
            checks[variant].update(int8_dice_check(metrics, variant))
            check = checks[variant]
            log(f"[export] {variant} vs torch: {check_summary(check)}; validation Dice {check['dice']:.4f} (fp32 "
                f"{metrics['dice_fp32']:.4f})" + ("" if check["passed"] else ": more than 1 point lower, not recommended"))
        metrics["recommended_model"] = recommend(metrics, models)
        log("[export] " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                    for k, v in metrics.items() if not isinstance(v, list | dict)))
        metrics["speed"] = engine_speed({k: edge / v for k, v in models.items()}, real[0][:1])
        log("[export] speed on this machine (engine/threads/format: one tile ms): " + ", ".join(
            f"{r['engine']}/{r['threads']}/{r['format']}: {r.get('tile_ms', 'n/a')}" for r in metrics["speed"]["rows"]))
    ts_path = None
    if "torchscript" in formats or "monai" in formats:
        ts_path = export_torchscript(net, stage / "torchscript" / "model.ts", real[0])
        checks["torchscript"] = fp32_record(check_export("TorchScript export", ts_path, reference,
                                                    torch_logits(load_torchscript(ts_path), inputs)))
        report["files"]["torchscript"] = str(ts_path)
        log(f"[export] TorchScript -> {final(ts_path)}; vs torch: {check_summary(checks['torchscript'])}")
    if "bundle" in formats or "monai" in formats:
        from xtiny.export.edge_bundle import preprocess_description, write_edge_bundle

        pre = preprocess_description(model, models)
        if "bundle" in formats:
            write_edge_bundle(edge, model, models, metrics)
            report["files"]["bundle"] = str(edge)
            log(f"[export] edge bundle (preprocess.json, manifest.json, README.md) -> {final(edge)}")
        if "monai" in formats:
            from xtiny.export.monai_bundle import write_monai_bundle

            monai_dir = stage / "monai_bundle"
            write_monai_bundle(monai_dir, ts_path, pre, {k: v for k, v in metrics.items() if k.startswith("dice")},
                               f"nnU-Net {configuration} of {name} (fold {fold}), exported by XTiny.")
            report["files"]["monai"] = str(monai_dir)
            log(f"[export] MONAI bundle -> {final(monai_dir)}")
    for product in PRODUCTS:
        if (stage / product).exists():
            replace_tree(stage / product, out / product)
    shutil.rmtree(stage)
    report["files"] = {key: str(final(path)) for key, path in report["files"].items()}
    atomic_write_json(out / "export_report.json", report)
    log(f"[export] report -> {out / 'export_report.json'}")
    return report
