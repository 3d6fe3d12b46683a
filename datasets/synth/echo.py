"""Synthetic apical echocardiography frame (mimics EchoNet-Dynamic): ultrasound sector, speckled myocardium,
dark blood pools, and the left-ventricle cavity as the label."""

from __future__ import annotations

import numpy as np

from xtiny.datasets.synth._common import grid, radial_blob, smooth_noise, soft_mask, speckle, to_uint8
from xtiny.datasets.synth.base import KindSpec

SPEC = KindSpec(
    name="Echo",
    mimics="EchoNet-Dynamic (echocardiography, left ventricle)",
    channel_names={"0": "US"},
    labels={"background": 0, "LV": 1},
)


def generate_case(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One grey frame (uint8 H x W) and its LV mask."""
    yy, xx = grid(size)
    shape = (size, size)
    depth = np.hypot(yy - 0.02, xx - 0.5)
    angle = np.arctan2(xx - 0.5, yy - 0.02)
    sector = ((np.abs(angle) < np.deg2rad(40)) & (depth < 0.95)).astype(np.float32)
    tissue = 0.25 + 0.1 * smooth_noise(rng, shape, size / 12)
    # LV: elongated along the beam axis, apex near the probe; LA below; RV to the side
    cy, cx = rng.uniform(0.38, 0.48), rng.uniform(0.42, 0.52)
    length, width = rng.uniform(0.2, 0.28), rng.uniform(0.1, 0.14)
    lv = radial_blob((yy, xx), (cy, cx), width, rng, irregularity=0.12, aspect=width / length * 1.6,
                     angle=np.pi / 2 + rng.normal(0, 0.1))
    lv = np.maximum(lv, yy - cy - length * 0.6)  # flat mitral plane at the base
    label = ((lv < 0) & (sector > 0)).astype(np.uint8)
    myo = soft_mask(lv - rng.uniform(0.03, 0.05), 0.01) * (1 - soft_mask(lv, 0.005))
    tissue = tissue + 0.55 * myo
    for dy, dx, r in ((length + 0.12, 0.0, 0.09), (0.02, -0.17, 0.08)):  # left atrium, right ventricle
        d = radial_blob((yy, xx), (cy + dy, cx + dx), r * rng.uniform(0.8, 1.2), rng, irregularity=0.15)
        wall = soft_mask(d - 0.03, 0.01) * (1 - soft_mask(d, 0.005))
        tissue = tissue * (1 - 0.7 * soft_mask(d, 0.005)) + 0.35 * wall
    tissue = tissue * (1 - 0.75 * soft_mask(lv, 0.005))
    # clutter inside the cavity and depth attenuation
    tissue = tissue + soft_mask(lv, 0.005) * 0.08 * np.clip(smooth_noise(rng, shape, size / 40), 0, None)
    image = tissue * speckle(rng, shape, grain=max(0.6, size / 200)) * (1.15 - 0.5 * depth) * sector
    return to_uint8(np.log1p(5 * np.clip(image, 0, None))), label
