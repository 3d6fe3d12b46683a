"""ACDC (Bernard et al. 2018): ``training/patientXXX/patientXXX_frameYY.nii.gz`` + ``..._gt.nii.gz`` (ED and
ES frames; ``testing/`` likewise). Labels 1 RV, 2 MYO, 3 LV, as nnU-Net's ``Dataset027_ACDC``."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from xtiny.datasets.converters._common import require_cases

NAME = "ACDC"
DEFAULT_ID = 606
_FRAME = re.compile(r"(patient\d{3}_frame\d{2})\.nii\.gz")


def convert(src: Path, stage: Path) -> dict[str, Any]:
    images, labels = stage / "imagesTr", stage / "labelsTr"
    images.mkdir()
    labels.mkdir()
    count = 0
    for image in sorted(src.rglob("patient*_frame*.nii.gz")):
        match = _FRAME.fullmatch(image.name)
        gt = image.with_name(image.name.replace(".nii.gz", "_gt.nii.gz"))
        if match and gt.is_file():
            shutil.copy(image, images / f"{match.group(1)}_0000.nii.gz")
            shutil.copy(gt, labels / f"{match.group(1)}.nii.gz")
            count += 1
    require_cases(count, src, "patientXXX_frameYY.nii.gz with _gt.nii.gz")
    return dict(channel_names={"0": "cineMRI"}, labels={"background": 0, "RV": 1, "MLV": 2, "LVC": 3},
                num_training=count, file_ending=".nii.gz", description="ACDC cine MRI, ED/ES frames",
                reference="https://www.creatis.insa-lyon.fr/Challenge/acdc/")
