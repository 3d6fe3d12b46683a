"""BUS-BRA (Gómez-Flores et al. 2024): ``Images/bus_XXXX-{l,r,s}.png`` and ``Masks/mask_XXXX-{l,r,s}.png``
(0/255), plus ``bus_data.csv``. Grey breast ultrasound, label 1 = lesion."""

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

NAME = "BUSBRA"
DEFAULT_ID = 601


def convert(src: Path, stage: Path) -> dict[str, Any]:
    images, masks = find_dir(src, "Images"), find_dir(src, "Masks")
    count = 0
    for image in sorted(images.glob("bus_*.png")):
        mask = masks / ("mask_" + image.name[len("bus_"):])
        if not mask.is_file():
            continue
        write_case(stage, image.stem, read_uint8_image(image, rgb=False), read_binary_mask(mask), ".png")
        count += 1
    require_cases(count, src, "Images/bus_*.png with Masks/mask_*.png")
    return dict(channel_names={"0": "US"}, labels=binary_labels("lesion"), num_training=count, file_ending=".png",
                description="BUS-BRA breast ultrasound, lesion masks", reference="https://doi.org/10.1002/mp.16812")
