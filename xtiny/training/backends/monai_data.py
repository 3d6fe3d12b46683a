"""The MONAI backend's data: preprocessed cases cached as tensors on the training device, patch sampling with
nnU-Net's foreground oversampling, and MONAI dictionary augmentation that runs on that device."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class CachedCase:
    """One preprocessed case as tensors: ``image`` (Z, C, Y, X) and ``label`` (Z, 1, Y, X), slices along Z."""

    key: str
    image: object
    label: object
    properties: dict | None = None


def cases_to_device(data_folder: Path, keys: list[str], device) -> list[CachedCase]:
    """Read cases with nnU-Net's dataset class into tensors on ``device`` (label -1 → 0 as nnU-Net does)."""
    import torch

    from xtiny.nnunet.cases import load_preprocessed_cases

    cases = []
    for case in load_preprocessed_cases(data_folder, keys):
        image = torch.from_numpy(np.ascontiguousarray(case.data)).permute(1, 0, 2, 3)
        label = torch.from_numpy(case.seg.astype(np.int64)).clamp_min(0).permute(1, 0, 2, 3)
        cases.append(CachedCase(case.identifier, image.to(device), label.to(device), case.properties))
    return cases


class PatchSampler:
    """Random 2D patches from cached slices; a share ``oversample`` of them centred on a random foreground voxel."""

    def __init__(self, cases: list[CachedCase], patch_size, oversample: float, seed: int = 0):
        import torch

        self.patch = tuple(int(p) for p in patch_size)
        self.oversample = oversample
        self.rng = np.random.default_rng(seed)
        self.slices = [(c.image[z], c.label[z]) for c in cases for z in range(c.image.shape[0])]
        self.foreground = [torch.nonzero(lab[0] > 0).cpu().numpy() for _, lab in self.slices]

    def _crop(self, image, label, force_fg: bool, fg):
        import torch.nn.functional as F

        pads = [max(0, p - s) for p, s in zip(self.patch, image.shape[-2:], strict=True)]
        if any(pads):
            pad = (pads[1] // 2, pads[1] - pads[1] // 2, pads[0] // 2, pads[0] - pads[0] // 2)
            image, label = F.pad(image, pad), F.pad(label, pad)
            fg = fg + np.array([pads[0] // 2, pads[1] // 2]) if len(fg) else fg
        shape = image.shape[-2:]
        if force_fg and len(fg):
            centre = fg[self.rng.integers(len(fg))]
            start = [int(np.clip(c - p // 2, 0, s - p)) for c, p, s in zip(centre, self.patch, shape, strict=True)]
        else:
            start = [int(self.rng.integers(0, s - p + 1)) for p, s in zip(self.patch, shape, strict=True)]
        window = (..., slice(start[0], start[0] + self.patch[0]), slice(start[1], start[1] + self.patch[1]))
        return image[window], label[window]

    def sample(self, batch_size: int) -> list[dict]:
        out = []
        for b in range(batch_size):
            force_fg = b >= round(batch_size * (1 - self.oversample))
            i = int(self.rng.integers(len(self.slices)))
            image, label = self._crop(*self.slices[i], force_fg, self.foreground[i])
            out.append({"image": image, "label": label})
        return out


def augmentation(seed: int):
    """MONAI dictionary transforms (spatial on image+label, intensity on image); they run on the tensors' device."""
    from monai.transforms import (
        Compose,
        RandAdjustContrastd,
        RandAffined,
        RandFlipd,
        RandGaussianNoised,
        RandGaussianSmoothd,
        RandScaleIntensityd,
    )

    keys = ["image", "label"]
    transform = Compose([
        RandAffined(keys, prob=0.2, rotate_range=(math.pi,), scale_range=(0.15, 0.15),
                    mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandGaussianNoised("image", prob=0.1, std=0.1),
        RandGaussianSmoothd("image", prob=0.1, sigma_x=(0.5, 1.0), sigma_y=(0.5, 1.0)),
        RandScaleIntensityd("image", factors=0.25, prob=0.15),
        RandAdjustContrastd("image", prob=0.15, gamma=(0.7, 1.5)),
        RandFlipd(keys, prob=0.5, spatial_axis=0),
        RandFlipd(keys, prob=0.5, spatial_axis=1),
    ])
    transform.set_random_state(seed=seed)
    return transform


def stack_batch(samples: list[dict], transform=None):
    """``(image (B, C, Y, X) float, label (B, 1, Y, X) long)`` from sampled patches, augmented by ``transform``."""
    import torch

    if transform is not None:
        samples = [transform(s) for s in samples]
    image = torch.stack([torch.as_tensor(s["image"]) for s in samples])
    label = torch.stack([torch.as_tensor(s["label"]) for s in samples])
    return image.as_subclass(torch.Tensor).float(), label.as_subclass(torch.Tensor).round().long()
