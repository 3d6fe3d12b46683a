"""nnU-Net's raw dataset format, through nnU-Net's own code: ``dataset.json``, its labels, image readers and the
label conversion of nnU-Net's BraTS 2021 converter."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def generate_raw_dataset_json(folder: Path, **fields: Any) -> Path:
    """Write ``folder/dataset.json`` with nnU-Net's ``generate_dataset_json`` (its keyword arguments)."""
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    generate_dataset_json(str(folder), **fields)
    return Path(folder) / "dataset.json"


def label_manager(labels: dict, regions_class_order: Any = None):
    """nnU-Net's ``LabelManager`` of a ``dataset.json`` label map (raises on a malformed one, as nnU-Net does)."""
    from nnunetv2.utilities.label_handling.label_handling import LabelManager

    return LabelManager(labels, regions_class_order=regions_class_order)


def image_reader(dataset_json: dict, example_file: str | None = None):
    """An instance of the image reader/writer nnU-Net picks for the dataset (by ``file_ending`` and, when given,
    an example file); nnU-Net raises RuntimeError when none fits."""
    from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_dataset_json

    return determine_reader_writer_from_dataset_json(dataset_json, example_file, verbose=False)()


def convert_brats_segmentation(source: Path, target: Path) -> None:
    """A BraTS segmentation with its labels made consecutive exactly as nnU-Net's ``Dataset137_BraTS21`` does."""
    from nnunetv2.dataset_conversion.Dataset137_BraTS21 import (
        copy_BraTS_segmentation_and_convert_labels_to_nnUNet,
    )

    copy_BraTS_segmentation_and_convert_labels_to_nnUNet(str(source), str(target))
