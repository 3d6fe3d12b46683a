"""A MONAI bundle around the TorchScript model: ``configs/metadata.json``, ``configs/inference.json``,
``models/model.ts``. Metadata is checked offline against the fields MONAI's schema requires."""

from __future__ import annotations

import shutil
from pathlib import Path

from xtiny.atomic import atomic_write_json
from xtiny.errors import XTinyError

SCHEMA_URL = ("https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/"
              "0.8.1/meta_schema_20220324.json")
REQUIRED_METADATA = ("version", "changelog", "monai_version", "pytorch_version", "numpy_version", "task",
                     "description", "authors", "copyright", "network_data_format")
REQUIRED_TENSOR_FIELDS = ("type", "format", "num_channels", "spatial_shape", "dtype", "value_range",
                          "is_patch_data", "channel_def")


def validate_metadata(meta: dict) -> list[str]:
    """Problems with a bundle's metadata.json, checked offline against MONAI's required fields ([] = valid)."""
    problems = [f"missing '{k}'" for k in REQUIRED_METADATA if k not in meta]
    fmt = meta.get("network_data_format", {})
    for side in ("inputs", "outputs"):
        entries = fmt.get(side) if isinstance(fmt, dict) else None
        if not isinstance(entries, dict) or not entries:
            problems.append(f"network_data_format.{side} is empty")
            continue
        for name, spec in entries.items():
            problems += [f"network_data_format.{side}.{name} lacks '{k}'" for k in REQUIRED_TENSOR_FIELDS
                         if k not in spec]
    if "version" in meta and meta["version"] not in meta.get("changelog", {}):
        problems.append(f"changelog has no entry for version {meta['version']}")
    return problems


def _norm_expression(schemes: list[str], props: dict) -> str:
    """A MONAI config expression normalizing each channel of a channel-first tensor like nnU-Net."""
    parts = []
    for c, scheme in enumerate(schemes):
        x = f"x[{c}:{c + 1}]"
        if scheme == "ZScoreNormalization":
            parts.append(f"({x} - {x}.mean()) / max(float({x}.std(unbiased=False)), 1e-8)")
        elif scheme == "CTNormalization":
            p = props[str(c)]
            parts.append(f"({x}.clamp({p['percentile_00_5']}, {p['percentile_99_5']}) - {p['mean']}) / {max(p['std'], 1e-8)}")
        elif scheme in ("RGBTo0_1Normalization", "RGBTo01Normalization"):
            parts.append(f"{x} / 255.0")
        elif scheme == "RescaleTo01Normalization":
            parts.append(f"({x} - {x}.min()) / max(float({x}.max() - {x}.min()), 1e-8)")
        elif scheme == "NoNormalization":
            parts.append(x)
        else:
            raise XTinyError(f"normalization '{scheme}' has no MONAI bundle equivalent yet.",
                             fix="export without 'monai' in --format.")
    return "$lambda x: torch.cat([" + ", ".join(parts) + "], 0).float()"


def inference_config(pre: dict) -> dict:
    """``configs/inference.json``: load images, normalize, Gaussian sliding window, argmax, save."""
    ending = pre["file_ending"]
    is_png = not ending.startswith(".nii")
    reader = {"reader": "PILReader", "reverse_indexing": False} if is_png else {}
    writer = {"output_ext": ending, "writer": "PILWriter", "scale": None} if is_png else {"output_ext": ending}
    return {
        "imports": ["$import glob", "$import os", "$import torch", "$import monai"],
        "bundle_root": ".",
        "output_dir": "$@bundle_root + '/eval'",
        "dataset_dir": "$@bundle_root + '/sample_data'",
        "datalist": f"$list(sorted(glob.glob(os.path.join(@dataset_dir, '*{ending}'))))",
        "device": "$torch.device('cpu')",
        "network_def": "$torch.jit.load(os.path.join(@bundle_root, 'models', 'model.ts'), map_location=@device)",
        "network": "$@network_def.eval()",
        "preprocessing": {"_target_": "Compose", "transforms": [
            {"_target_": "LoadImaged", "keys": "image", "image_only": True, **reader},
            {"_target_": "EnsureChannelFirstd", "keys": "image"},
            {"_target_": "Lambdad", "keys": "image",
             "func": _norm_expression(pre["normalization_schemes"], pre["intensity_properties"])},
        ]},
        "dataset": {"_target_": "Dataset", "data": "$[{'image': i} for i in @datalist]",
                    "transform": "@preprocessing"},
        "inferer": {"_target_": "SlidingWindowInferer", "roi_size": pre["patch_size"], "sw_batch_size": 4,
                    "overlap": 0.5, "mode": "gaussian", "sigma_scale": 0.125, "padding_mode": "constant"},
        "postprocessing": {"_target_": "Compose", "transforms": [
            {"_target_": "AsDiscreted", "keys": "pred", "argmax": True},
            {"_target_": "CastToTyped", "keys": "pred", "dtype": "$torch.uint8"},
            # PILWriter swaps the two image axes (the reader above does not): pre-swap so files match the input
            *([{"_target_": "Lambdad", "keys": "pred", "func": "$lambda x: x.transpose(-1, -2)"}] if is_png else []),
            {"_target_": "SaveImaged", "keys": "pred", "output_dir": "@output_dir", "output_postfix": "seg",
             "separate_folder": False, "resample": False, "output_dtype": "$numpy.uint8", **writer},
        ]},
        # no_grad around the prediction only: a global torch.set_grad_enabled(False) would leak into the caller
        "predict": ("$torch.no_grad()(lambda d: dict(d, pred=monai.data.MetaTensor(@inferer(d['image'][None]"
                    ".to(@device), @network)[0], meta=d['image'].meta)))"),
        "initialize": ["$import numpy"],
        "run": ["$[@postprocessing(@predict(d)) for d in @dataset]"],
    }


def write_monai_bundle(folder: Path, torchscript_path: Path, pre: dict, metrics: dict, description: str) -> Path:
    """Write a MONAI bundle into ``folder``; refuses metadata that misses MONAI's required fields."""
    import monai
    import numpy
    import torch

    (folder / "models").mkdir(parents=True, exist_ok=True)
    shutil.copy2(torchscript_path, folder / "models" / "model.ts")
    dims = len(pre["patch_size"])
    labels = {str(v): k for k, v in pre["labels"].items()}
    meta = {
        "schema": SCHEMA_URL,
        "version": "0.1.0",
        "changelog": {"0.1.0": "exported by xtiny export"},
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__.split("+")[0],
        "numpy_version": numpy.__version__,
        "required_packages_version": {},
        "name": f"{pre['dataset']} {pre['configuration']}",
        "task": f"Segmentation of {', '.join(k for k in pre['labels'] if k != 'background')}",
        "description": description,
        "authors": "XTiny export",
        "copyright": "Copyright (c) the dataset and model owners",
        "data_source": pre["dataset"],
        "intended_use": "Research only; not for clinical use.",
        "performance": metrics,
        "network_data_format": {
            "inputs": {"image": {"type": "image", "format": "magnitude", "modality": "see channel_def",
                                 "num_channels": pre["num_input_channels"],
                                 "spatial_shape": [f"{s}*n" for s in pre["stride_product"]][:dims],
                                 "dtype": "float32", "value_range": [], "is_patch_data": True,
                                 "channel_def": {str(k): v for k, v in pre["channel_names"].items()}}},
            "outputs": {"pred": {"type": "image", "format": "logits", "num_channels": len(labels),
                                 "spatial_shape": [f"{s}*n" for s in pre["stride_product"]][:dims],
                                 "dtype": "float32", "value_range": [], "is_patch_data": True,
                                 "channel_def": labels}},
        },
    }
    problems = validate_metadata(meta)
    if problems:
        raise XTinyError(f"MONAI bundle metadata is invalid: {'; '.join(problems)}.")
    atomic_write_json(folder / "configs" / "metadata.json", meta)
    atomic_write_json(folder / "configs" / "inference.json", inference_config(pre))
    return folder
