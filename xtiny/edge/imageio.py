"""Read and write images in nnU-Net's axis convention: arrays ``(C, d0, d1, d2)`` with spacing per axis.

PNG (and other 2D formats) through PIL, spacing ``(999, 1, 1)`` as nnU-Net's natural-image reader;
NIfTI through nibabel (imported lazily), axes reversed to SimpleITK's ``(z, y, x)`` order so that a
bundle's ``transpose_forward`` means the same as in nnU-Net.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

NIFTI_ENDINGS = (".nii.gz", ".nii")


def is_nifti(path: str | Path) -> bool:
    return str(path).lower().endswith(NIFTI_ENDINGS)


def read_image(path: str | Path) -> tuple[np.ndarray, tuple[float, ...], Any]:
    """One file → ``(array (C, d0, d1, d2) float32, spacing, reference for writing)``."""
    path = Path(path)
    if is_nifti(path):
        import nibabel

        image = nibabel.load(str(path))
        array = np.asanyarray(image.dataobj).astype(np.float32, copy=False)
        zooms = tuple(float(z) for z in image.header.get_zooms())
        if array.ndim == 2:
            array, zooms = array[:, :, None], (*zooms[:2], 1.0)
        if array.ndim != 3:
            raise ValueError(f"{path}: expected a 2D or 3D NIfTI image, got {array.ndim} dimensions")
        return array.transpose(2, 1, 0)[None], zooms[:3][::-1], image
    from PIL import Image

    with Image.open(path) as handle:
        array = np.asarray(handle)
    if array.ndim == 3:
        data = array.transpose(2, 0, 1)[:, None]
    elif array.ndim == 2:
        data = array[None, None]
    else:
        raise ValueError(f"{path}: unexpected image shape {array.shape}")
    return data.astype(np.float32, copy=False), (999.0, 1.0, 1.0), None


def write_segmentation(seg: np.ndarray, path: str | Path, reference: Any) -> Path:
    """Write labels ``(d0, d1, d2)`` in the geometry of the image ``reference`` came from."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.uint8 if seg.max(initial=0) < 256 else np.uint16
    if is_nifti(path):
        import nibabel

        array = seg.transpose(2, 1, 0)
        if reference is not None and len(reference.shape) == 2:
            array = array[:, :, 0]
        affine = reference.affine if reference is not None else np.eye(4)
        header = reference.header.copy() if reference is not None else None
        out = nibabel.Nifti1Image(array.astype(dtype), affine, header)
        out.set_data_dtype(dtype)
        out.header.set_slope_inter(1, 0)
        nibabel.save(out, str(path))
    else:
        from PIL import Image

        Image.fromarray(seg[0].astype(dtype)).save(path, compress_level=1)  # labels compress well even so
    return path
