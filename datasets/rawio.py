"""Writing nnU-Net v2 raw datasets: case files in nnU-Net's naming, dataset.json, and staged installs.

Every dataset is written into a hidden staging folder next to its destination, validated with
:func:`xtiny.datasets.validate.validate_dataset`, and only then moved into place, so a failed write or a
dataset that does not validate never appears (or replaces a good one) under ``nnUNet_raw``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from xtiny.console import say
from xtiny.errors import XTinyError

# dataset.json["xtiny"][PATIENTS_KEY] = {case id: patient}: a slice dataset's patients (per-patient Dice in evaluate)
PATIENTS_KEY = "patients"


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """``(7, "SynthBus")`` → ``"Dataset007_SynthBus"`` (nnU-Net's naming)."""
    if not 1 <= int(dataset_id) <= 999:
        raise XTinyError(f"dataset id {dataset_id} is out of range.", fix="use an id between 1 and 999.")
    return f"Dataset{int(dataset_id):03d}_{name}"


def write_png(path: Path, array: np.ndarray) -> None:
    """Write a 2D grey (H, W) or RGB (H, W, 3) image losslessly, as nnU-Net's NaturalImage2DIO reads it."""
    from skimage import io

    if array.ndim not in (2, 3):
        raise ValueError(f"PNG needs a 2D or RGB array, got shape {array.shape}")
    dtype = np.uint8 if array.max(initial=0) < 256 else np.uint16
    io.imsave(str(path), array.astype(dtype, copy=False), check_contrast=False)


def write_nifti(path: Path, volume: np.ndarray, spacing_zyx: tuple[float, ...], dtype: type = np.float32) -> None:
    """Write a (Z, Y, X) volume as NIfTI with a diagonal affine of ``spacing``; same geometry for every file."""
    import nibabel as nib

    affine = np.diag([spacing_zyx[2], spacing_zyx[1], spacing_zyx[0], 1.0])
    data = np.ascontiguousarray(volume.transpose(2, 1, 0)).astype(dtype)  # nibabel is x, y, z
    nib.save(nib.Nifti1Image(data, affine), str(path))


def write_case(folder: Path, case_id: str, channels: list[np.ndarray] | np.ndarray, label: np.ndarray,
               file_ending: str, spacing_zyx: tuple[float, ...] = (1.0, 1.0, 1.0)) -> None:
    """Write one training case as ``imagesTr/{case}_{XXXX}{ending}`` + ``labelsTr/{case}{ending}``.

    For ``.png`` pass one RGB array (H, W, 3) or grey array (H, W); for NIfTI a list of (Z, Y, X) channels.
    """
    images, labels = folder / "imagesTr", folder / "labelsTr"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    if file_ending == ".png":
        write_png(images / f"{case_id}_0000.png", np.asarray(channels))
        write_png(labels / f"{case_id}.png", label)
    elif file_ending in (".nii.gz", ".nii"):
        for c, channel in enumerate(channels):
            write_nifti(images / f"{case_id}_{c:04d}{file_ending}", channel, spacing_zyx)
        write_nifti(labels / f"{case_id}{file_ending}", label, spacing_zyx, dtype=np.uint8)
    else:
        raise ValueError(f"unsupported file ending {file_ending}")


def write_dataset_json(folder: Path, *, channel_names: dict[str, str], labels: dict[str, Any], num_training: int,
                       file_ending: str, regions_class_order: tuple[int, ...] | None = None,
                       **extra: Any) -> Path:
    """Write ``dataset.json`` with nnU-Net's own :func:`generate_dataset_json` (plus ``extra`` keys)."""
    from xtiny.nnunet.raw_format import generate_raw_dataset_json

    return generate_raw_dataset_json(folder, channel_names=channel_names, labels=labels,
                                     num_training_cases=num_training, file_ending=file_ending,
                                     regions_class_order=regions_class_order, **extra)


def existing_with_id(raw_dir: Path, dataset_id: int) -> list[Path]:
    """Folders in ``raw_dir`` that already use ``dataset_id``."""
    prefix = f"Dataset{int(dataset_id):03d}_"
    return sorted(p for p in raw_dir.glob(prefix + "*") if p.is_dir()) if raw_dir.is_dir() else []


def check_id_free(raw_dir: Path, dataset_id: int, name: str) -> None:
    """Refuse to create ``name`` when another dataset (different name) already holds the id."""
    others = [p for p in existing_with_id(raw_dir, dataset_id) if p.name != name]
    if others:
        raise XTinyError(
            f"dataset id {dataset_id} is already used by {others[0]}; nnU-Net needs unique ids.",
            fix=f"pass another id (--id N), or delete {others[0]} first.",
        )


def _drop_stale_preprocessed(name: str) -> None:
    """Preprocessed data derived from a replaced raw dataset is stale: remove it so nnU-Net replans."""
    pre = os.environ.get("nnUNet_preprocessed")
    if pre and (Path(pre) / name).is_dir():
        shutil.rmtree(Path(pre) / name)
        say(f"[xtiny] removed stale preprocessed data {Path(pre) / name}", errors=True)


@contextmanager
def staged_dataset(raw_dir: Path, name: str, *, validate: bool = True) -> Iterator[Path]:
    """Yield a staging folder; on success validate it and atomically move it to ``raw_dir/name``.

    An existing ``raw_dir/name`` is replaced only after the new one validated (and stale preprocessed data of
    that name removed). On any error the staging folder is deleted and the old dataset is left untouched.
    """
    raw_dir.mkdir(parents=True, exist_ok=True)
    stage = raw_dir / f".{name}.staging-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    try:
        yield stage
        if validate:
            from xtiny.datasets.validate import validate_dataset

            validate_dataset(stage).raise_if_fatal()
        target = raw_dir / name
        if target.exists():
            trash = raw_dir / f".{name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, trash)
            os.replace(stage, target)
            shutil.rmtree(trash, ignore_errors=True)
            _drop_stale_preprocessed(name)
        else:
            os.replace(stage, target)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
