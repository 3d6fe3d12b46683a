"""FIVES (Jin et al. 2022): ``train/Original/N_X.png`` + ``train/Ground truth/N_X.png`` and the same under
``test/``. RGB fundus 2048x2048, label 1 = vessel. Cases are prefixed with their split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xtiny.datasets.converters._common import binary_labels, read_binary_mask, read_uint8_image, require_cases
from xtiny.datasets.rawio import write_case

NAME = "FIVES"
DEFAULT_ID = 604


def convert(src: Path, stage: Path) -> dict[str, Any]:
    count = 0
    for original in sorted(src.rglob("Original")):
        truth = original.parent / "Ground truth"
        if not (original.is_dir() and truth.is_dir()):
            continue
        split = original.parent.name.lower()
        for image in sorted(original.glob("*.png")):
            mask = truth / image.name
            if mask.is_file():
                case = f"{split}_{image.stem}".replace(" ", "_")
                write_case(stage, case, read_uint8_image(image, rgb=True), read_binary_mask(mask), ".png")
                count += 1
    require_cases(count, src, "*/Original/*.png with */Ground truth/*.png")
    return dict(channel_names={"0": "R", "1": "G", "2": "B"}, labels=binary_labels("vessel"), num_training=count,
                file_ending=".png", description="FIVES fundus vessel segmentation",
                reference="https://doi.org/10.1038/s41597-022-01564-3")
