"""Real inputs for checking and calibrating exports: preprocessed cases of the model's dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xtiny.nnunet.cases import PreprocessedCase, load_preprocessed_cases


def patches(cases: list[PreprocessedCase], patch: list[int], limit: int = 16) -> list[np.ndarray]:
    """Centre patches ``(1, C, *patch)`` (zero-padded when smaller) of the cases' slices, at most ``limit``."""
    from xtiny.edge.sliding import pad_to_patch

    result = []
    for case in cases:
        data = case.data
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

    def validation_cases(self, limit: int) -> list[PreprocessedCase]:
        return load_preprocessed_cases(self.folder, self.val_ids[:limit])


def export_data(dataset_name: str, plans: dict, configuration: str, fold, calibration_patches: int = 16) -> ExportData:
    """The fold split exactly as training used it (nnU-Net's rule), its calibration patches and validation ids."""
    from xtiny.nnunet.plans import configuration_manager, require_preprocessed
    from xtiny.nnunet.splits import fold_split

    patch = list(configuration_manager(plans, configuration).patch_size)
    folder = require_preprocessed(dataset_name, plans, configuration)
    train_ids, val_ids = fold_split(dataset_name, folder, fold)
    calibration = patches(load_preprocessed_cases(folder, train_ids[:max(1, calibration_patches)]), patch,
                          limit=calibration_patches)
    return ExportData(folder, patch, calibration, list(val_ids))
