"""BraTS 2021 task 1: ``BraTS2021_XXXXX/BraTS2021_XXXXX_{t1,t1ce,t2,flair,seg}.nii.gz``.

Labels are made consecutive exactly as nnU-Net's own ``Dataset137_BraTS21`` does (BraTS 2 edema → 1,
1 necrotic core → 2, 4 enhancing → 3) and trained as regions whole tumour (1,2,3), tumour core (2,3),
enhancing tumour (3) with ``regions_class_order`` (1, 2, 3)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from xtiny.datasets.converters._common import require_cases

NAME = "BraTS2021"
DEFAULT_ID = 605
MODALITIES = ("t1", "t1ce", "t2", "flair")


def convert(src: Path, stage: Path) -> dict[str, Any]:
    from xtiny.nnunet.raw_format import convert_brats_segmentation

    images, labels = stage / "imagesTr", stage / "labelsTr"
    images.mkdir()
    labels.mkdir()
    count = 0
    for case in sorted(p for p in src.rglob("BraTS2021_*") if p.is_dir()):
        seg = case / f"{case.name}_seg.nii.gz"
        files = [case / f"{case.name}_{m}.nii.gz" for m in MODALITIES]
        if not seg.is_file() or not all(f.is_file() for f in files):
            continue
        for c, f in enumerate(files):
            shutil.copy(f, images / f"{case.name}_{c:04d}.nii.gz")
        convert_brats_segmentation(seg, labels / f"{case.name}.nii.gz")
        count += 1
    require_cases(count, src, "BraTS2021_XXXXX folders with t1/t1ce/t2/flair/seg")
    return dict(channel_names={"0": "T1", "1": "T1ce", "2": "T2", "3": "Flair"},
                labels={"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3], "enhancing tumor": [3]},
                num_training=count, file_ending=".nii.gz", regions_class_order=(1, 2, 3),
                description="BraTS 2021 (labels converted as nnU-Net's Dataset137)",
                reference="https://www.synapse.org/brats2021")
