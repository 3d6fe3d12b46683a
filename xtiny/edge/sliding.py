"""nnU-Net's Gaussian sliding-window inference in numpy around any ``run(batch) -> logits`` callable."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

Runner = Callable[[np.ndarray], np.ndarray]


def gaussian_importance(patch: Sequence[int], sigma_scale: float = 1.0 / 8) -> np.ndarray:
    """A delta at the patch centre blurred with sigma = patch * sigma_scale (truncated at 4 sigma, like
    scipy's ``gaussian_filter``), scaled to max 1; zeros replaced by the smallest nonzero value."""
    result = np.ones((), dtype=np.float64)
    for size in patch:
        sigma = size * sigma_scale
        radius = int(4.0 * sigma + 0.5)
        x = np.arange(size) - size // 2
        kernel = np.exp(-0.5 * (x / sigma) ** 2) if sigma > 0 else (x == 0).astype(np.float64)
        kernel[np.abs(x) > radius] = 0
        result = np.multiply.outer(result, kernel)
    result = result / result.max()
    if (result == 0).any():
        result[result == 0] = result[result > 0].min()
    return result.astype(np.float32)


def window_starts(image: Sequence[int], patch: Sequence[int], step: float = 0.5) -> list[list[int]]:
    """nnU-Net's ``compute_steps_for_sliding_window``."""
    starts = []
    for size, tile in zip(image, patch, strict=False):
        n = int(np.ceil((size - tile) / (tile * step))) + 1
        stride = (size - tile) / (n - 1) if n > 1 else 0
        starts.append([int(np.round(stride * i)) for i in range(n)])
    return starts


def pad_to_patch(data: np.ndarray, patch: Sequence[int]) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Zero-pad the trailing spatial axes of ``(C, *spatial)`` to at least ``patch`` (centred, as nnU-Net)."""
    spatial = data.shape[-len(patch):]
    pads = [(0, 0)] * (data.ndim - len(patch))
    revert = [slice(None)] * (data.ndim - len(patch))
    for size, tile in zip(spatial, patch, strict=False):
        diff = max(0, tile - size)
        pads.append((diff // 2, diff - diff // 2))
        revert.append(slice(diff // 2, diff // 2 + size))
    if all(p == (0, 0) for p in pads):
        return data, tuple(revert)
    return np.pad(data, pads, mode="constant", constant_values=0), tuple(revert)


def mirror_combinations(axes: Sequence[int] | None) -> list[tuple[int, ...]]:
    """All non-empty combinations of the mirroring axes (spatial indices), plus the identity ``()``."""
    axes = list(axes or [])
    return [()] + [c for i in range(len(axes)) for c in itertools.combinations(axes, i + 1)]


def predict_tiles(run: Runner, tiles: np.ndarray, mirror_axes: Sequence[int] | None) -> np.ndarray:
    """Logits for a batch ``(B, C, *patch)``, averaged over the mirrored copies like nnU-Net's TTA."""
    combos = mirror_combinations(mirror_axes)
    if len(combos) == 1:
        return run(tiles)
    total = None
    for combo in combos:
        flip = tuple(a + 2 for a in combo)
        x = np.ascontiguousarray(np.flip(tiles, flip)) if flip else tiles
        y = run(x)
        y = np.flip(y, flip) if flip else y
        total = y.astype(np.float32) if total is None else total + y
    return total / len(combos)


def sliding_window_logits(run: Runner, image: np.ndarray, patch: Sequence[int], num_classes: int, *,
                          step: float = 0.5, sigma_scale: float = 1.0 / 8, mirror_axes: Sequence[int] | None = None,
                          batch_size: int = 4) -> np.ndarray:
    """Logits ``(K, *spatial)`` for one normalized image ``(C, *spatial)`` with ``len(spatial) == len(patch)``."""
    return sliding_window_batched(run, [image], patch, num_classes, step=step, sigma_scale=sigma_scale,
                                  mirror_axes=mirror_axes, batch_size=batch_size)[0]


def sliding_window_batched(run: Runner, images: Sequence[np.ndarray], patch: Sequence[int], num_classes: int, *,
                           step: float = 0.5, sigma_scale: float = 1.0 / 8,
                           mirror_axes: Sequence[int] | None = None, batch_size: int = 4) -> list[np.ndarray]:
    """Logits ``(K, *spatial)`` for each of several images ``(C, *spatial)`` (slices of a volume, frames, PNGs; shapes
    may differ): the tiles of all images go through ``run`` together in batches of ``batch_size``.

    An image covered by one tile gets that tile's logits as they are (the Gaussian weight divides out)."""
    weight = gaussian_importance(patch, sigma_scale)
    padded, reverts, tiles = [], [], []
    for index, image in enumerate(images):
        data, revert = pad_to_patch(image.astype(np.float32, copy=False), patch)
        padded.append(data)
        reverts.append(revert)
        starts = window_starts(data.shape[1:], patch, step)
        tiles += [(index, tuple(slice(c, c + t) for c, t in zip(corner, patch, strict=False)))
                  for corner in itertools.product(*starts)]
    per_image = Counter(i for i, _ in tiles)
    single = [per_image[index] == 1 for index in range(len(images))]
    logits = [None if one else np.zeros((num_classes, *p.shape[1:]), np.float32)
              for p, one in zip(padded, single, strict=True)]
    counts = [None if one else np.zeros(p.shape[1:], np.float32) for p, one in zip(padded, single, strict=True)]
    for first in range(0, len(tiles), batch_size):
        chunk = tiles[first:first + batch_size]
        preds = predict_tiles(run, np.stack([padded[i][(slice(None), *s)] for i, s in chunk]), mirror_axes)
        for pred, (i, s) in zip(preds, chunk, strict=True):
            if single[i]:
                logits[i] = pred  # the whole (padded) image: no weighting, no copy
            else:
                logits[i][(slice(None), *s)] += pred * weight
                counts[i][s] += weight
    out = []
    for i, revert in enumerate(reverts):
        if counts[i] is not None:
            logits[i] /= counts[i]
        out.append(logits[i][(slice(None), *revert[1:])])
    return out
