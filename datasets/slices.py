"""A 2D PNG dataset of axial slices cut from one labelled 3D template (shared by the template builders).

Used by :mod:`xtiny.datasets.mni` and :mod:`xtiny.datasets.colin27`: both read a T1 volume and a label volume on
one grid (x, y, z order as stored by nibabel) and write one nnU-Net case per axial slice with enough labels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xtiny.errors import XTinyError


def write_slice_cases(folder: Path, case_prefix: str, grey: np.ndarray, labels: np.ndarray, *,
                      min_fraction: float, require_label: bool = False) -> list[str]:
    """Write one PNG case ``{case_prefix}_z{z:03d}`` per slice ``z`` of the (Z, H, W) uint8 ``grey`` and its
    ``labels`` whose fraction of labelled (non-zero) pixels is >= ``min_fraction`` (and, with ``require_label``,
    not zero). Returns the case ids written."""
    from xtiny.datasets.rawio import write_case

    written = []
    for z in range(labels.shape[0]):
        lab = labels[z]
        fraction = (lab > 0).mean()
        if fraction < min_fraction or (require_label and fraction == 0):
            continue
        written.append(f"{case_prefix}_z{z:03d}")
        write_case(folder, written[-1], np.ascontiguousarray(grey[z]), np.ascontiguousarray(lab), ".png")
    return written


def write_axial_slice_dataset(raw_dir: Path, name: str, volume: np.ndarray, label_volume: np.ndarray, *,
                              case_prefix: str, min_fraction: float, preview: bool = False,
                              in_plane_step: int = 1, **dataset_json: Any) -> Path:
    """Write ``raw_dir/name``: one PNG case ``{case_prefix}_z{z:03d}`` per axial slice ``z`` of ``volume``
    (labels from ``label_volume``, same grid).

    A slice is kept when its fraction of labelled (non-zero) pixels is >= ``min_fraction``. Intensities are scaled
    to uint8 between the 0.5 and 99.5 percentiles of the volume's non-zero voxels. Image and label are rotated
    the same way (``np.rot90``: anterior up). ``in_plane_step`` > 1 keeps every n-th row and column of both (a
    coarser in-plane grid, labels not interpolated). ``dataset_json`` goes to
    :func:`xtiny.datasets.rawio.write_dataset_json` (channel_names, labels, description, ...). The caller checks
    the id (:func:`xtiny.datasets.rawio.check_id_free`); the write is staged and validated.
    """
    from xtiny.datasets.rawio import staged_dataset, write_dataset_json

    if volume.shape != label_volume.shape:
        raise XTinyError(f"image {volume.shape} and labels {label_volume.shape} are not on one grid.",
                         fix="resample the labels onto the image grid first.")
    lo, hi = np.percentile(volume[volume > 0], [0.5, 99.5])
    with staged_dataset(raw_dir, name) as stage:
        step = in_plane_step
        grey = np.clip((volume[::step, ::step] - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
        # (x, y, z) → (z, rows, cols) with np.rot90's turn of each slice: anterior up
        count = len(write_slice_cases(stage, case_prefix, np.rot90(grey).transpose(2, 0, 1),
                                      np.rot90(label_volume[::step, ::step]).transpose(2, 0, 1),
                                      min_fraction=min_fraction))
        if count == 0:
            raise XTinyError(f"no axial slice has >= {min_fraction:.0%} labelled pixels; nothing to write.",
                             fix="pass a smaller minimum fraction.")
        write_dataset_json(stage, num_training=count, file_ending=".png", dataset_name=name, **dataset_json)
        if preview:
            from xtiny.datasets.preview import contact_sheet

            contact_sheet(stage, stage / "preview.png")
    return raw_dir / name
