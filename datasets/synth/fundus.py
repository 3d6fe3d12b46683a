"""Synthetic colour fundus photograph (mimics FIVES): circular field of view, optic disc, fovea, and a
branching vessel tree (1-4 px wide, thinner towards the periphery) as the label."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from xtiny.datasets.synth._common import grid, smooth_noise, to_uint8
from xtiny.datasets.synth.base import KindSpec

SPEC = KindSpec(
    name="Fundus",
    mimics="FIVES (fundus RGB, vessels)",
    channel_names={"0": "R", "1": "G", "2": "B"},
    labels={"background": 0, "vessel": 1},
)


def _vessel_tree(rng: np.random.Generator, size: int, disc: tuple[float, float]) -> np.ndarray:
    """Width map (pixels) of a random branching tree grown from the optic disc, drawn as disc stamps."""
    width = np.zeros((size, size), np.float32)
    stack = [(disc[0], disc[1], rng.uniform(0, 2 * np.pi) + k * np.pi / 2, 4.0, 0) for k in range(4)]
    step = 1.0 / size
    while stack:
        y, x, ang, w, depth = stack.pop()
        length = int(rng.uniform(0.15, 0.35) * size)
        ys, xs = [], []
        for _ in range(length):
            ang += rng.normal(0, 0.06)
            y, x = y + step * np.sin(ang), x + step * np.cos(ang)
            ys.append(y)
            xs.append(x)
        iy = np.clip((np.array(ys) * size).astype(int), 0, size - 1)
        ix = np.clip((np.array(xs) * size).astype(int), 0, size - 1)
        np.maximum.at(width, (iy, ix), w * size / 512)
        if depth < 4 and w > 1.0:
            for turn in (-1, 1):
                stack.append((y, x, ang + turn * rng.uniform(0.3, 0.8), w * rng.uniform(0.65, 0.85), depth + 1))
    return width


def generate_case(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One RGB fundus image (uint8 H x W x 3) and its vessel mask."""
    yy, xx = grid(size)
    shape = (size, size)
    r = np.hypot(yy - 0.5, xx - 0.5)
    fov = (r < 0.46).astype(np.float32)
    side = rng.choice([-1, 1])
    disc = (0.5 + rng.normal(0, 0.03), 0.5 + side * rng.uniform(0.17, 0.23))
    widths = _vessel_tree(rng, size, disc)
    # rasterize each centre line pixel as a disc of its width (max filters at 3 radii)
    label = np.zeros(shape, bool)
    for lo, hi in ((0, 1.5), (1.5, 2.5), (2.5, 9)):
        band = (widths > lo) & (widths <= hi)
        label |= ndimage.binary_dilation(band, iterations=max(1, int(round(hi / 2)))) if hi > 1.5 else band
    label &= fov > 0
    base = np.array([rng.uniform(0.75, 0.95), rng.uniform(0.35, 0.5), rng.uniform(0.1, 0.2)], np.float32)
    tex = 1 + 0.08 * smooth_noise(rng, shape, size / 20)
    shade = 1 - 0.45 * (r / 0.46) ** 2
    fovea = 1 - 0.35 * np.exp(-(((yy - disc[0]) ** 2 + (xx - 0.5 + side * 0.02) ** 2) / 0.004))
    od = np.exp(-(((yy - disc[0]) ** 2 + (xx - disc[1]) ** 2) / 0.0025))
    image = base[:, None, None] * (tex * shade * fovea)[None] + od[None] * np.array([0.3, 0.45, 0.3])[:, None, None]
    vessel = ndimage.gaussian_filter(label.astype(np.float32), 0.6)
    image = image * (1 - vessel * np.array([0.35, 0.55, 0.4])[:, None, None] * rng.uniform(0.6, 1.0))
    image = (image + rng.normal(0, 0.02, image.shape).astype(np.float32)) * fov[None]
    return to_uint8(image.transpose(1, 2, 0), 0.0, 1.0), label.astype(np.uint8)
