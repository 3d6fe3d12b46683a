"""Synthetic brain MRI volumes (mimics BraTS 2021): 4 channels (T1, T1ce, T2, FLAIR) with nested tumour
regions. Labels are consecutive (1 edema, 2 non-enhancing core, 3 enhancing) and nnU-Net trains on the
BraTS regions whole tumour (1,2,3), tumour core (2,3) and enhancing tumour (3) via ``regions_class_order``."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from xtiny.datasets.synth._common import rician
from xtiny.datasets.synth.base import KindSpec

SPEC = KindSpec(
    name="Brain3d",
    mimics="BraTS 2021 (brain MRI, 4 modalities, tumour sub-regions, 3D)",
    channel_names={"0": "T1", "1": "T1ce", "2": "T2", "3": "FLAIR"},
    labels={"background": 0, "whole_tumor": [1, 2, 3], "tumor_core": [2, 3], "enhancing_tumor": 3},
    file_ending=".nii.gz",
    regions_class_order=(1, 2, 3),
    spacing=(1.0, 1.0, 1.0),
)
# intensity per tissue (background, CSF, GM, WM, edema, necrosis/core, enhancing) for T1, T1ce, T2, FLAIR
_TISSUE = np.array([
    [0.0, 0.0, 0.0, 0.0], [0.2, 0.2, 1.0, 0.15], [0.55, 0.55, 0.6, 0.6], [0.8, 0.8, 0.4, 0.5],
    [0.5, 0.5, 0.85, 0.95], [0.35, 0.4, 0.9, 0.6], [0.6, 1.0, 0.7, 0.8],
], np.float32)


def generate_case(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One 4-channel volume (float32 4 x Z x Y x X, Z = Y = X = min(size, 48)) and its label volume."""
    n = min(size, 48)
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32)] * 3, indexing="ij")
    warp = ndimage.gaussian_filter(rng.standard_normal((n, n, n)).astype(np.float32), n / 8) * 3
    brain = (x / 0.8) ** 2 + (y / 0.9) ** 2 + (z / 0.75) ** 2 + 0.3 * warp
    tissue = np.zeros((n, n, n), np.int64)
    tissue[brain < 1.0] = 2  # grey matter
    tissue[brain < 0.55] = 3  # white matter
    tissue[(np.abs(x) < 0.12) & (brain < 0.35)] = 1  # ventricles
    center = rng.uniform(-0.35, 0.35, 3)
    d = np.sqrt((z - center[0]) ** 2 + (y - center[1]) ** 2 + (x - center[2]) ** 2) + 0.15 * warp
    r = rng.uniform(0.15, 0.3)
    label = np.zeros((n, n, n), np.uint8)
    label[(d < r * 1.8) & (brain < 1.0)] = 1
    label[d < r] = 3
    label[d < r * rng.uniform(0.4, 0.7)] = 2
    tissue[label == 1], tissue[label == 3], tissue[label == 2] = 4, 6, 5
    image = _TISSUE[tissue].transpose(3, 0, 1, 2)  # (4, Z, Y, X)
    image = ndimage.gaussian_filter(image, (0, 0.7, 0.7, 0.7))
    image = image * (1 + 0.1 * ndimage.gaussian_filter(rng.standard_normal((n, n, n)), n / 6))[None]
    image = rician(rng, image.astype(np.float32), 0.03) * 1000
    return image.astype(np.float32), label
