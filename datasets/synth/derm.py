"""Synthetic dermoscopy (mimics ISIC 2018 task 1): RGB skin with texture and vignetting, a pigmented lesion
with fuzzy border and internal network, dark hairs crossing lesion and skin."""

from __future__ import annotations

import numpy as np

from xtiny.datasets.synth._common import grid, radial_blob, smooth_noise, soft_mask, to_uint8
from xtiny.datasets.synth.base import KindSpec

SPEC = KindSpec(
    name="Derm",
    mimics="ISIC 2018 task 1 (dermoscopy RGB, lesion)",
    channel_names={"0": "R", "1": "G", "2": "B"},
    labels={"background": 0, "lesion": 1},
)


def _hairs(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Soft mask of a few curved dark hairs."""
    mask = np.zeros_like(yy)
    for _ in range(rng.integers(0, 7)):
        y0, x0, ang = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0, np.pi)
        curve = rng.uniform(-1.5, 1.5)
        u = (xx - x0) * np.cos(ang) + (yy - y0) * np.sin(ang)
        v = -(xx - x0) * np.sin(ang) + (yy - y0) * np.cos(ang) - curve * u * u
        width = rng.uniform(0.002, 0.005)
        mask = np.maximum(mask, np.exp(-(v / width) ** 2) * (np.abs(u) < rng.uniform(0.2, 0.6)))
    return mask


def generate_case(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One RGB image (uint8 H x W x 3) and its lesion mask."""
    yy, xx = grid(size)
    shape = (size, size)
    skin_rgb = np.array([rng.uniform(0.75, 0.95), rng.uniform(0.55, 0.72), rng.uniform(0.45, 0.62)], np.float32)
    skin = skin_rgb[:, None, None] * (1 + 0.06 * smooth_noise(rng, shape, size / 12))[None]
    cy, cx = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65)
    dist = radial_blob((yy, xx), (cy, cx), rng.uniform(0.12, 0.3), rng, irregularity=rng.uniform(0.1, 0.35),
                       harmonics=8, aspect=rng.uniform(0.8, 1.3), angle=rng.uniform(0, np.pi))
    label = (dist < 0).astype(np.uint8)
    fuzz = soft_mask(dist + 0.01 * smooth_noise(rng, shape, size / 30), rng.uniform(0.01, 0.025))
    darkness = rng.uniform(0.3, 0.6)
    network = 0.5 + 0.5 * np.cos(2 * np.pi * (xx * rng.uniform(15, 30) + 0.3 * smooth_noise(rng, shape, size / 25))) \
        * np.cos(2 * np.pi * yy * rng.uniform(15, 30))
    pigment = darkness * (0.8 + 0.2 * network + 0.15 * smooth_noise(rng, shape, size / 16))
    lesion_rgb = np.array([0.45, 0.28, 0.2], np.float32)[:, None, None]
    image = skin * (1 - fuzz * pigment) + fuzz * pigment * lesion_rgb * skin
    # dermoscope vignetting and hairs
    vignette = 1 - 0.5 * np.clip(np.hypot(yy - 0.5, xx - 0.5) / 0.7, 0, 1) ** 3
    image = image * vignette[None] * (1 - 0.75 * _hairs(rng, yy, xx))[None]
    image = image + rng.normal(0, 0.015, image.shape).astype(np.float32)
    return to_uint8(image.transpose(1, 2, 0), 0.0, 1.0), label
