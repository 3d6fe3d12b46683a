"""Vectorized numpy primitives shared by the synthetic kinds: grids, blobs, textures, noise."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(yy, xx)`` in [0, 1) for a ``size`` x ``size`` image."""
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size
    return np.meshgrid(axis, axis, indexing="ij")


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to zero mean, unit std (``sigma`` in pixels)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    field -= field.mean()
    std = float(field.std())
    return field / std if std > 0 else field


def radial_blob(grid: tuple[np.ndarray, np.ndarray], centre: tuple[float, float], radius: float,
                rng: np.random.Generator, irregularity: float = 0.15, harmonics: int = 6,
                aspect: float = 1.0, angle: float = 0.0) -> np.ndarray:
    """Signed distance-like field (<0 inside) of a star-shaped blob with random Fourier boundary, on ``grid``
    ``(yy, xx)`` around ``centre`` ``(cy, cx)``."""
    (yy, xx), (cy, cx) = grid, centre
    dy, dx = yy - cy, xx - cx
    ca, sa = np.cos(angle), np.sin(angle)
    u, v = dx * ca + dy * sa, (-dx * sa + dy * ca) * aspect
    rho = np.sqrt(u * u + v * v)
    theta = np.arctan2(v, u)
    r = np.ones_like(theta)
    for k in range(2, harmonics + 1):
        r += irregularity / k ** 0.8 * rng.uniform(0.3, 1.0) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return rho - radius * r


def soft_mask(distance: np.ndarray, width: float) -> np.ndarray:
    """Sigmoid edge: 1 inside (distance < 0), 0 outside, transition of ``width`` (same units)."""
    return 1.0 / (1.0 + np.exp(np.clip(distance / max(width, 1e-6), -40, 40)))


def speckle(rng: np.random.Generator, shape: tuple[int, ...], grain: float) -> np.ndarray:
    """Fully developed ultrasound speckle: Rayleigh amplitude of a correlated complex field, mean ~1."""
    re = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), grain)
    im = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), grain)
    amp = np.sqrt(re * re + im * im)
    return amp / max(float(amp.mean()), 1e-6)


def bias_field(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, strength: float) -> np.ndarray:
    """Smooth multiplicative MRI bias field (low-order polynomial), mean ~1."""
    c = rng.uniform(-1, 1, size=5) * strength
    field = 1 + c[0] * (xx - 0.5) + c[1] * (yy - 0.5) + c[2] * (xx - 0.5) ** 2 + c[3] * (yy - 0.5) ** 2 \
        + c[4] * (xx - 0.5) * (yy - 0.5)
    return np.clip(field, 0.3, None)


def rician(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise in both parts (Rician noise)."""
    n1 = rng.normal(0, sigma, image.shape).astype(np.float32)
    n2 = rng.normal(0, sigma, image.shape).astype(np.float32)
    return np.sqrt((image + n1) ** 2 + n2 ** 2)


def to_uint8(image: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Scale to 0..255 (by percentiles 0.5/99.5 unless ``lo``/``hi`` given) and cast to uint8."""
    lo = float(np.percentile(image, 0.5)) if lo is None else lo
    hi = float(np.percentile(image, 99.5)) if hi is None else hi
    scaled = (image - lo) / max(hi - lo, 1e-6) * 255.0
    return np.clip(scaled, 0, 255).astype(np.uint8)
