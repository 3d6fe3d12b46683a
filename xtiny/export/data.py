"""Real inputs for checking and calibrating exports: preprocessed cases of the model's dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xtiny.errors import XTinyError


def preprocessed_folder(dataset_name: str, plans: dict, configuration: str) -> Path:
    """The preprocessed data folder of ``configuration`` (following ``inherits_from``)."""
    from xtiny.paths import nnunet_dirs

    configs = plans["configurations"]
    cfg = configs[configuration]
    ident = cfg.get("data_identifier")
    while ident is None and "inherits_from" in cfg:
        cfg = configs[cfg["inherits_from"]]
        ident = cfg.get("data_identifier")
    folder = nnunet_dirs().preprocessed / dataset_name / str(ident)
    if not folder.is_dir():
        raise XTinyError(f"preprocessed data not found: {folder}.",
                         fix=f"run nnU-Net preprocessing for {dataset_name} / {configuration} first.")
    return folder




def load_cases(folder: Path, identifiers: list[str]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``[(id, data (C, *spatial) float32, seg (1, *spatial))]`` from nnU-Net's preprocessed files."""
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    dataset = infer_dataset_class(str(folder))(str(folder), identifiers)
    out = []
    for ident in identifiers:
        data, seg, _, _ = dataset.load_case(ident)
        out.append((ident, np.asarray(data[:], dtype=np.float32), np.asarray(seg[:])))
    return out


def patches(cases: list[tuple[str, np.ndarray, np.ndarray]], patch: list[int], limit: int = 16) -> list[np.ndarray]:
    """Centre patches ``(1, C, *patch)`` (zero-padded when smaller) of the cases' slices, at most ``limit``."""
    from xtiny.edge.sliding import pad_to_patch

    result = []
    for _, data, _ in cases:
        if len(patch) == data.ndim - 2:  # 2D configuration: slices, the middle ones first
            middle = data.shape[1] // 2
            slices = [data[:, d] for d in sorted(range(data.shape[1]), key=lambda d: abs(d - middle))]
        else:
            slices = [data]
        for image in slices:
            padded, _ = pad_to_patch(image, patch)
            start = [(s - p) // 2 for s, p in zip(padded.shape[1:], patch, strict=False)]
            crop = padded[(slice(None), *[slice(a, a + p) for a, p in zip(start, patch, strict=False)])]
            result.append(np.ascontiguousarray(crop[None], dtype=np.float32))
            if len(result) >= limit:
                return result
    return result
