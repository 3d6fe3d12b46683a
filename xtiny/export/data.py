"""Real inputs for checking and calibrating exports: preprocessed cases of the model's dataset."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass
class ExportData:
    """What every export check uses: the configuration's patch size, calibration patches from fold ``F``'s
    training cases, and (loaded on demand) its validation cases, from nnU-Net's ``splits_final.json``."""

    folder: Path
    patch: list[int]
    calibration: list[np.ndarray]
    val_ids: list[str]

    def validation_cases(self, limit: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return load_cases(self.folder, self.val_ids[:limit])


def export_data(dataset_name: str, plans: dict, configuration: str, fold, calibration_patches: int = 16) -> ExportData:
    """The fold split exactly as training used it (``fold_keys``), its calibration patches and validation ids."""
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from xtiny.training.monai_backend import fold_keys
    from xtiny.training.results import parse_fold

    patch = list(PlansManager(plans).get_configuration(configuration).patch_size)
    folder = preprocessed_folder(dataset_name, plans, configuration)
    train_ids, val_ids = fold_keys(dataset_name, folder, parse_fold(fold))
    calibration = patches(load_cases(folder, train_ids[:max(1, calibration_patches)]), patch,
                          limit=calibration_patches)
    return ExportData(folder, patch, calibration, list(val_ids))
