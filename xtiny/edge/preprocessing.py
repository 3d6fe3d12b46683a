"""nnU-Net's preprocessing re-done in numpy: crop to nonzero, normalize, resample (linear / nearest).

Arrays follow nnU-Net's convention: ``(C, d0, d1, d2)``; a 2D image is ``(C, 1, H, W)``.
"""

from __future__ import annotations

import numpy as np


def nonzero_bbox(data: np.ndarray) -> list[tuple[int, int]]:
    """Bounding box ``[(lo, hi), ...]`` of voxels nonzero in any channel (the whole image if all zero)."""
    mask = np.any(data != 0, axis=0)
    if not mask.any():
        return [(0, s) for s in mask.shape]
    box = []
    for axis in range(mask.ndim):
        hit = np.any(mask, axis=tuple(a for a in range(mask.ndim) if a != axis))
        idx = np.flatnonzero(hit)
        box.append((int(idx[0]), int(idx[-1]) + 1))
    return box


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Binary hole filling: background not connected (face-wise) to the array border becomes foreground."""
    background = ~mask
    reach = np.zeros_like(mask)
    for axis in range(mask.ndim):
        for end in (0, -1):
            index = [slice(None)] * mask.ndim
            index[axis] = end
            reach[tuple(index)] = background[tuple(index)]
    while True:
        grown = reach.copy()
        for axis in range(mask.ndim):
            if mask.shape[axis] < 2:
                continue
            lo = [slice(None)] * mask.ndim
            hi = [slice(None)] * mask.ndim
            lo[axis], hi[axis] = slice(0, -1), slice(1, None)
            grown[tuple(lo)] |= reach[tuple(hi)]
            grown[tuple(hi)] |= reach[tuple(lo)]
        grown &= background
        if np.array_equal(grown, reach):
            return ~reach
        reach = grown


def normalize(data: np.ndarray, schemes: list[str], use_mask: list[bool], properties: dict) -> np.ndarray:
    """Per-channel normalization as in nnU-Net's default schemes (float32, in a copy)."""
    out = np.empty(data.shape, dtype=np.float32)
    mask = None
    if any(use_mask):
        mask = fill_holes(np.any(data != 0, axis=0))
    for c, scheme in enumerate(schemes):
        image = data[c].astype(np.float32)
        props = properties.get(str(c), {})
        if scheme == "ZScoreNormalization":
            if use_mask[c] and mask is not None:
                sel = image[mask]
                image = np.where(mask, (image - sel.mean()) / max(float(sel.std()), 1e-8), image).astype(np.float32)
            else:
                image = (image - image.mean()) / max(float(image.std()), 1e-8)
        elif scheme == "CTNormalization":
            image = np.clip(image, props["percentile_00_5"], props["percentile_99_5"])
            image = (image - props["mean"]) / max(float(props["std"]), 1e-8)
        elif scheme == "RescaleTo01Normalization":
            image = image - image.min()
            image = image / max(float(image.max()), 1e-8)
        elif scheme in ("RGBTo0_1Normalization", "RGBTo01Normalization"):
            image = image / 255.0
        elif scheme != "NoNormalization":
            raise ValueError(f"normalization scheme '{scheme}' is not supported by the edge runtime")
        out[c] = image
    return out


def new_shape_for(shape: tuple[int, ...], spacing: list[float], target: list[float]) -> tuple[int, ...]:
    """nnU-Net's ``compute_new_shape``: ``round(old_spacing / new_spacing * shape)``."""
    return tuple(int(round(s * a / b)) for s, a, b in zip(shape, spacing, target, strict=False))


def _resize_axis_linear(array: np.ndarray, axis: int, size: int) -> np.ndarray:
    old = array.shape[axis]
    if old == size:
        return array
    coords = (np.arange(size, dtype=np.float64) + 0.5) * (old / size) - 0.5
    coords = np.clip(coords, 0, old - 1)
    lo = np.floor(coords).astype(np.int64)
    hi = np.minimum(lo + 1, old - 1)
    weight = (coords - lo).astype(np.float32)
    shape = [1] * array.ndim
    shape[axis] = size
    weight = weight.reshape(shape)
    return np.take(array, lo, axis=axis) * (1 - weight) + np.take(array, hi, axis=axis) * weight


def resize(array: np.ndarray, shape: tuple[int, ...], order: int = 1) -> np.ndarray:
    """Resize the spatial axes of ``(C, *spatial)`` to ``shape``: separable linear (order 1) or nearest (0)."""
    if tuple(array.shape[1:]) == tuple(shape):
        return array
    out = array
    for axis, size in enumerate(shape, start=1):
        old = out.shape[axis]
        if old == size:
            continue
        if order == 0:
            idx = np.clip(np.floor((np.arange(size) + 0.5) * (old / size)).astype(np.int64), 0, old - 1)
            out = np.take(out, idx, axis=axis)
        else:
            out = _resize_axis_linear(out.astype(np.float32, copy=False), axis, size)
    return out
