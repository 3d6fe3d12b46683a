"""Preprocessed cases, read with nnU-Net's own dataset class (``.b2nd`` blosc2 in nnU-Net 2.8, ``.npz`` before)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class PreprocessedCase:
    """One case: ``data`` (C, *spatial) float32, ``seg`` (1, *spatial) and nnU-Net's ``properties``."""

    identifier: str
    data: np.ndarray
    seg: np.ndarray
    properties: dict


def dataset_class_of(data_folder: str | Path) -> type:
    """nnU-Net's dataset class for a preprocessed data folder (blosc2 or numpy files)."""
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    return infer_dataset_class(str(data_folder))


def load_preprocessed_cases(data_folder: str | Path, identifiers: list[str]) -> list[PreprocessedCase]:
    """Read ``identifiers`` from a preprocessed data folder into memory, in order."""
    dataset = dataset_class_of(data_folder)(str(data_folder), list(identifiers))
    out = []
    for ident in identifiers:
        data, seg, _, properties = dataset.load_case(ident)
        out.append(PreprocessedCase(ident, np.asarray(data[:], dtype=np.float32), np.asarray(seg[:]), properties))
    return out
