"""Probe inputs: K unlabeled, nnU-Net-preprocessed training images, centre slice / centre patch at the patch size.

Cases are read with nnU-Net's own dataset class (``infer_dataset_class``: ``.b2nd`` blosc2 in nnU-Net 2.8,
``.npz``/``.npy`` before). Only the centre crop is read from disk (blosc2 decompresses the requested
slab only), so a huge volume is never loaded whole nor fed whole to a network.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from xtiny.errors import XTinyError


@dataclass
class ProbeInputs:
    """``images``: float32 array (K, C, *patch_size); ``case_ids``: the K training cases used."""

    images: np.ndarray
    case_ids: list[str]
    patch_size: list[int]
    data_folder: str

    @property
    def sha1(self) -> str:
        """Hash of the exact image bytes (part of every cache key)."""
        return hashlib.sha1(np.ascontiguousarray(self.images).tobytes()).hexdigest()


def select_cases(identifiers: list[str], k: int) -> list[str]:
    """K cases spread evenly over the sorted identifiers (deterministic); all of them when K >= count."""
    ids = sorted(identifiers)
    if k <= 0:
        raise XTinyError(f"k must be positive (got {k}).", fix="pass e.g. -k 32.")
    if k >= len(ids):
        return ids
    idx = np.unique(np.round(np.linspace(0, len(ids) - 1, k)).astype(int))
    return [ids[i] for i in idx]


def centre_window(shape: tuple[int, ...], target: list[int]) -> tuple[list[slice], list[tuple[int, int]]]:
    """Per axis: the centre slice of ``shape`` to read (≤ target) and the (before, after) zero padding to target."""
    slices, pads = [], []
    for s, t in zip(shape, target, strict=True):
        if s >= t:
            start = (s - t) // 2
            slices.append(slice(start, start + t))
            pads.append((0, 0))
        else:
            slices.append(slice(0, s))
            before = (t - s) // 2
            pads.append((before, t - s - before))
    return slices, pads


def read_centre(data, patch_size: list[int]) -> np.ndarray:
    """Centre slice/patch of one preprocessed case ``data`` (C, Z, Y, X), cropped or zero-padded to ``patch_size``.

    2d patch (2 values): the centre slice along Z, then centre crop/pad of (Y, X). 3d patch: centre crop/pad
    of (Z, Y, X). Only the window is read.
    """
    spatial = tuple(int(s) for s in data.shape[1:])
    if len(patch_size) == 2:
        z = spatial[0] // 2
        slices, pads = centre_window(spatial[1:], patch_size)
        window = np.asarray(data[(slice(None), z, *slices)], dtype=np.float32)
    elif len(patch_size) == 3:
        slices, pads = centre_window(spatial, patch_size)
        window = np.asarray(data[(slice(None), *slices)], dtype=np.float32)
    else:
        raise XTinyError(f"unsupported patch size {patch_size} (need 2 or 3 spatial dimensions).")
    return np.pad(window, [(0, 0), *pads])


@dataclass
class ProbeSource:
    """The base configuration's preprocessed training cases: where they are, how to read them, the patch size."""

    folder: str
    dataset_class: type
    identifiers: list[str]
    patch_size: list[int]

    def read(self, case_ids: list[str]) -> ProbeInputs:
        """The centre images of ``case_ids`` as float32 (K, C, *patch), checked finite."""
        dataset = self.dataset_class(self.folder, identifiers=list(case_ids))
        images = []
        for case in case_ids:
            data, _seg, _prev, _props = dataset.load_case(case)
            img = read_centre(data, self.patch_size)
            if not np.all(np.isfinite(img)):
                raise XTinyError(f"preprocessed case {case} in {self.folder} contains non-finite values.",
                                 fix="re-run nnU-Net preprocessing for this dataset.")
            images.append(img)
        return ProbeInputs(np.stack(images), list(case_ids), list(self.patch_size), self.folder)


def probe_source(dataset_name: str, base_configuration: str) -> ProbeSource:
    """Check the plans and the preprocessed data of ``base_configuration`` and list its training cases (sorted)."""
    from xtiny.nnunet.cases import dataset_class_of
    from xtiny.nnunet.plans import configuration_dict, load_plans, require_preprocessed

    plans = load_plans(dataset_name, base_configuration)
    cfg = configuration_dict(plans, base_configuration)
    folder = require_preprocessed(dataset_name, plans, base_configuration)
    dataset_class = dataset_class_of(folder)
    identifiers = sorted(dataset_class.get_identifiers(str(folder)))
    return ProbeSource(str(folder), dataset_class, identifiers, [int(p) for p in cfg["patch_size"]])


def load_probe_inputs(dataset_name: str, base_configuration: str, k: int) -> ProbeInputs:
    """K centre images of the base configuration's preprocessed training cases, as float32 (K, C, *patch)."""
    source = probe_source(dataset_name, base_configuration)
    return source.read(select_cases(source.identifiers, k))
