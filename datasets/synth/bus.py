"""Synthetic breast ultrasound (mimics BUS-BRA): speckled layered tissue, hypoechoic irregular lesion
with posterior acoustic shadowing, and hypoechoic look-alikes (fat lobules) that are smooth and oval."""

from __future__ import annotations

import numpy as np

from xtiny.datasets.synth._common import grid, radial_blob, smooth_noise, soft_mask, speckle, to_uint8
from xtiny.datasets.synth.base import KindSpec

SPEC = KindSpec(
    name="Bus",
    mimics="BUS-BRA (breast ultrasound, lesion)",
    channel_names={"0": "US"},
    labels={"background": 0, "lesion": 1},
)


def generate_case(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One B-mode image (uint8 H x W) and its lesion mask."""
    yy, xx = grid(size)
    shape = (size, size)
    # layered tissue: skin (bright), subcutaneous fat (dark), glandular (mid, textured), chest wall
    depth = yy + 0.04 * smooth_noise(rng, shape, size / 8)
    tissue = np.where(depth < 0.06, 1.3, np.where(depth < 0.25, 0.75, np.where(depth < 0.85, 1.0, 0.8)))
    tissue = tissue * (1 + 0.25 * smooth_noise(rng, shape, size / 20))
    # fat lobules: smooth, oval, hypoechoic look-alikes
    for _ in range(rng.integers(2, 5)):
        d = radial_blob((yy, xx), (rng.uniform(0.15, 0.9), rng.uniform(0.05, 0.95)), rng.uniform(0.04, 0.1),
                        rng, irregularity=0.03, aspect=rng.uniform(1.5, 2.5))
        tissue = tissue * (1 - 0.3 * soft_mask(d, 0.01))
    # the lesion: irregular (spiculated for some), hypoechoic, low contrast, heterogeneous inside
    cy, cx = rng.uniform(0.35, 0.65), rng.uniform(0.3, 0.7)
    radius = rng.uniform(0.08, 0.18)
    dist = radial_blob((yy, xx), (cy, cx), radius, rng, irregularity=rng.uniform(0.15, 0.45), harmonics=9,
                       aspect=rng.uniform(0.8, 1.6), angle=rng.uniform(-0.4, 0.4))
    label = (dist < 0).astype(np.uint8)
    inside = soft_mask(dist, 0.006)
    contrast = rng.uniform(0.35, 0.55)
    tissue = tissue * (1 - contrast * inside) + inside * 0.15 * smooth_noise(rng, shape, size / 40)
    # echogenic halo and posterior shadowing below the lesion
    halo = soft_mask(np.abs(dist) - 0.01, 0.006) * (1 - inside)
    tissue = tissue * (1 + 0.25 * halo)
    cols = label.any(axis=0).astype(np.float32)
    cols = np.convolve(cols, np.ones(max(3, size // 32)) / max(3, size // 32), mode="same")
    below = np.maximum.accumulate(label.astype(np.float32), axis=0) * (1 - label)
    tissue = tissue * (1 - rng.uniform(0.2, 0.45) * below * cols[None, :])
    # speckle, depth attenuation with time-gain compensation residue, log-compression
    image = tissue * speckle(rng, shape, grain=max(0.6, size / 256)) * (1.1 - 0.4 * yy)
    image = np.log1p(4 * np.clip(image, 0, None))
    return to_uint8(image), label
