"""Synthetic short-axis cine MRI (mimics ACDC): RV crescent, myocardial ring, LV blood pool, other organs,
bias field and Rician noise. Labels follow ACDC: 1 RV, 2 myocardium, 3 LV."""

from __future__ import annotations

import numpy as np

from xtiny.datasets.synth._common import (
    bias_field,
    grid,
    radial_blob,
    rician,
    smooth_noise,
    soft_mask,
    to_uint8,
)
from xtiny.datasets.synth.base import KindSpec

SPEC = KindSpec(
    name="Cardiac",
    mimics="ACDC (cine MRI short axis, RV / myocardium / LV)",
    channel_names={"0": "cineMRI"},
    labels={"background": 0, "RV": 1, "MYO": 2, "LV": 3},
)


def generate_case(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One short-axis slice (uint8 H x W) and its 4-class label map."""
    yy, xx = grid(size)
    shape = (size, size)
    body = radial_blob((yy, xx), (0.5, 0.5), rng.uniform(0.38, 0.45), rng, irregularity=0.05,
                       aspect=rng.uniform(1.1, 1.4))
    image = 0.02 + 0.35 * soft_mask(body, 0.01) * (1 + 0.2 * smooth_noise(rng, shape, size / 16))
    # other organs (liver, lungs dark, fat bright) as blobs of random intensity
    for _ in range(rng.integers(3, 6)):
        d = radial_blob((yy, xx), (rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)), rng.uniform(0.05, 0.14), rng,
                        irregularity=0.2)
        image = image + soft_mask(d, 0.01) * soft_mask(body, 0.01) * rng.uniform(-0.25, 0.35)
    # the heart
    cy, cx = rng.uniform(0.42, 0.58), rng.uniform(0.42, 0.58)
    r_lv = rng.uniform(0.06, 0.11)
    wall = rng.uniform(0.025, 0.045)
    ang = rng.uniform(0, 2 * np.pi)
    lv = radial_blob((yy, xx), (cy, cx), r_lv, rng, irregularity=0.08, aspect=rng.uniform(0.9, 1.15))
    epi = radial_blob((yy, xx), (cy, cx), r_lv + wall, rng, irregularity=0.05)
    off = r_lv + wall + rng.uniform(0.01, 0.04)
    rv_full = radial_blob((yy, xx), (cy + off * np.sin(ang), cx + off * np.cos(ang)), r_lv * rng.uniform(1.1, 1.6),
                          rng, irregularity=0.1, aspect=rng.uniform(1.4, 2.2), angle=ang + np.pi / 2)
    rv = np.maximum(rv_full, -(epi - 0.012))  # crescent: RV blob minus a dilated epicardium
    label = np.zeros(shape, np.uint8)
    label[rv < 0] = 1
    label[(epi < 0) & (lv >= 0)] = 2
    label[lv < 0] = 3
    blood = rng.uniform(0.75, 0.95)
    myo = rng.uniform(0.2, 0.3)
    heart = soft_mask(epi, 0.004)
    image = image * (1 - heart) * (1 - soft_mask(rv, 0.004)) + heart * myo
    image = image + soft_mask(lv, 0.004) * (blood - myo) + soft_mask(rv, 0.004) * blood * rng.uniform(0.85, 1.0)
    # papillary muscles / trabeculations: small dark dots inside the LV
    for _ in range(rng.integers(1, 4)):
        a = rng.uniform(0, 2 * np.pi)
        d = np.hypot(yy - cy - 0.7 * r_lv * np.sin(a), xx - cx - 0.7 * r_lv * np.cos(a)) - r_lv * 0.2
        image = image - soft_mask(d, 0.004) * soft_mask(lv, 0.004) * 0.4
    image = image * bias_field(rng, yy, xx, 0.6)
    image = rician(rng, np.clip(image, 0, None), rng.uniform(0.04, 0.08))
    return to_uint8(image), label
