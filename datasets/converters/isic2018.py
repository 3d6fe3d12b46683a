"""ISIC 2018 task 1: ``ISIC2018_Task1-2_Training_Input/ISIC_XXXXXXX.jpg`` and
``ISIC2018_Task1_Training_GroundTruth/ISIC_XXXXXXX_segmentation.png`` (0/255). RGB, label 1 = lesion.
JPEG inputs are decoded once and stored as lossless PNG (nnU-Net does not read JPEG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xtiny.datasets.converters._common import (
    binary_labels,
    find_dir,
    read_binary_mask,
    read_uint8_image,
    require_cases,
)
from xtiny.datasets.rawio import write_case

NAME = "ISIC2018"
DEFAULT_ID = 603


def convert(src: Path, stage: Path) -> dict[str, Any]:
    images = find_dir(src, "ISIC2018_Task1-2_Training_Input")
    truth = find_dir(src, "ISIC2018_Task1_Training_GroundTruth")
    count = 0
    for image in sorted(images.glob("ISIC_*.jpg")):
        mask = truth / f"{image.stem}_segmentation.png"
        if mask.is_file():
            write_case(stage, image.stem, read_uint8_image(image, rgb=True), read_binary_mask(mask), ".png")
            count += 1
    require_cases(count, src, "ISIC_*.jpg with ISIC_*_segmentation.png")
    return dict(channel_names={"0": "R", "1": "G", "2": "B"}, labels=binary_labels("lesion"), num_training=count,
                file_ending=".png", description="ISIC 2018 task 1 lesion boundary segmentation",
                reference="https://challenge.isic-archive.com/data/#2018")
