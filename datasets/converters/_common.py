"""Helpers shared by the converters: finding files, reading 2D images/masks, binarizing masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xtiny.errors import XTinyError


def find_dir(root: Path, *names: str) -> Path:
    """The first folder named one of ``names`` at or below ``root`` (datasets are often nested once)."""
    for name in names:
        for candidate in [root / name, *sorted(root.glob(f"*/{name}")), *sorted(root.glob(f"*/*/{name}"))]:
            if candidate.is_dir():
                return candidate
    raise XTinyError(f"no folder {' or '.join(names)} under {root}.",
                     fix="pass the dataset's top folder as published (see the converter's docstring).")


def read_uint8_image(path: Path, rgb: bool) -> np.ndarray:
    """Read a published 2D image as uint8 grey (H, W) or RGB (H, W, 3) (alpha dropped, colour made grey when
    ``rgb`` is False); not :func:`xtiny.edge.imageio.read_image`, which reads any image in nnU-Net's axes."""
    from skimage import color, io

    arr = io.imread(str(path))
    if arr.ndim == 3 and arr.shape[-1] == 4:
        arr = arr[..., :3]
    if rgb and arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if not rgb and arr.ndim == 3:
        arr = (color.rgb2gray(arr) * 255).round()
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return arr


def read_binary_mask(path: Path) -> np.ndarray:
    """A 0/255 (or 0/1, grey or RGB) mask → uint8 0/1."""
    from skimage import io

    arr = io.imread(str(path))
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=-1)
    return (arr > (127 if arr.max() > 1 else 0)).astype(np.uint8)


def binary_labels(name: str) -> dict[str, int]:
    return {"background": 0, name: 1}


def require_cases(count: int, src: Path, what: str) -> None:
    if count == 0:
        raise XTinyError(f"no {what} found under {src}.", fix="pass the dataset's top folder as published.")
