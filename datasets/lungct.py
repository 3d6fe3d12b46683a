"""Real lung-cancer CT with expert tumour contours, from two pinned registry archives (``xtiny datasets lungct``).

Six patients (:mod:`xtiny.datasets.lungct_archives`): pyCERR 2.5.1's four DICOM CT crops with their RT-STRUCT
contour ``GTV-1`` (cases ``cerr_pat1``..``cerr_pat4``, data CC BY-NC 3.0) and pyradiomics 3.0.1's sdist ``lung1``,
``lung2`` (NRRD CT + lesion label; cases ``pyrad_lung1``, ``pyrad_lung2``). Every case is resampled (linear; labels
linear then thresholded at 0.5) onto one grid of :data:`SPACING_ZYX` mm, with the first slice's position as origin
and the scan's own axes, then cropped in-plane to :data:`CROP_MM` mm around the lesion (pyradiomics' scans are full
field of view; pyCERR's crops are about that size already). Two datasets:

* ``Dataset{id}_LungCT``: one 3D NIfTI case per patient (HU, float32; label 1 = tumour), for ``3d_fullres``; the
  NIfTI headers carry the spacing.
* ``Dataset{id+1}_LungCT2D``: one PNG case ``{patient}_z{zzz}`` per axial slice holding tumour, HU windowed to
  :data:`HU_WINDOW` → 0..255, for ``2d``.

Both get ``$nnUNet_preprocessed/<name>/splits_final.json`` (and a copy in the raw folder) with nnU-Net's 5 folds drawn
over PATIENTS (:func:`xtiny.nnunet.splits.write_group_splits`), so no patient is in a fold's training and
validation at once. Six patients: a demonstration and test dataset, not a benchmark.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xtiny.console import say
from xtiny.datasets.lungct_archives import (
    LUNGCT_ARCHIVES,
    PYCERR,
    PYRADIOMICS,
    PinnedArchive,
    ensure_archive,
    extract_data,
)
from xtiny.datasets.rawio import PATIENTS_KEY
from xtiny.errors import XTinyError

DEFAULT_ID = 530  # the 3D dataset; the 2D slice variant takes DEFAULT_ID + 1
SPACING_ZYX = (3.0, 1.0, 1.0)  # mm: pyCERR's slice step (3 mm), about its 0.98 mm pixels
CROP_MM = 200.0
HU_WINDOW = (-1000.0, 400.0)
ROI_NAME = "GTV-1"
PYRADIOMICS_CASES = ("lung1", "lung2")


@dataclass(frozen=True)
class LungCase:
    """One patient on the common grid: ``hu`` and ``label`` (Z, Y, X), and where it came from."""

    case_id: str
    hu: np.ndarray
    label: np.ndarray
    source: str


@dataclass(frozen=True)
class LungCTDatasets:
    """What :func:`build_lungct_dataset` wrote: the 3D and 2D dataset folders, the patients, their tumour mL."""

    volumes: Path
    slices: Path
    cases: tuple[str, ...]
    tumour_ml: dict[str, float]


def resample_to_spacing(image, spacing_zyx: tuple[float, float, float] = SPACING_ZYX, *,  # noqa: ANN001 - sitk
                        label: bool = False) -> np.ndarray:
    """A SimpleITK image resampled onto the grid of ``spacing_zyx`` mm that starts at its origin and follows its
    axes (as far as its last voxel centre reaches); linear, a label's thresholded at 0.5. Returns (Z, Y, X)."""
    import SimpleITK as sitk

    spacing_xyz = tuple(float(s) for s in spacing_zyx[::-1])
    size = [int(np.floor((n - 1) * sp / t + 1e-6)) + 1
            for n, sp, t in zip(image.GetSize(), image.GetSpacing(), spacing_xyz, strict=True)]
    source = sitk.Cast(image, sitk.sitkFloat32)
    out = sitk.Resample(source, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(), spacing_xyz,
                        image.GetDirection(), 0.0 if label else -1000.0, sitk.sitkFloat32)
    array = sitk.GetArrayFromImage(out)
    return (array >= 0.5).astype(np.uint8) if label else array.astype(np.float32)


def crop_around_label(hu: np.ndarray, label: np.ndarray, size_yx: int) -> tuple[np.ndarray, np.ndarray]:
    """Both volumes cut in-plane to ``size_yx`` voxels centred on the label's bounding box (clipped inside)."""
    if not label.any():
        raise XTinyError("the lesion label is empty; nothing to crop around.", fix="use a case with a lesion.")
    _, ys, xs = np.nonzero(label)
    cuts = []
    for axis, idx in ((1, ys), (2, xs)):
        n = label.shape[axis]
        width = min(size_yx, n)
        start = int(np.clip((idx.min() + idx.max() + 1) // 2 - width // 2, 0, n - width))
        cuts.append(slice(start, start + width))
    return hu[:, cuts[0], cuts[1]], label[:, cuts[0], cuts[1]]


def _on_grid(case_id: str, ct, mask, source: str) -> LungCase:  # noqa: ANN001 - SimpleITK images
    hu, label = resample_to_spacing(ct), resample_to_spacing(mask, label=True)
    if not label.any():
        raise XTinyError(f"{source}: the tumour vanished when resampled to {SPACING_ZYX} mm.",
                         fix="check the contour/label of this case.")
    hu, label = crop_around_label(hu, label, int(round(CROP_MM / SPACING_ZYX[1])))
    return LungCase(case_id, hu, label, source)


def _sitk_volume(array: np.ndarray, spacing_zyx, origin, direction):  # noqa: ANN001, ANN202
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.float32))
    image.SetSpacing(tuple(float(s) for s in spacing_zyx[::-1]))
    image.SetOrigin(tuple(float(o) for o in origin))
    image.SetDirection(tuple(float(d) for d in direction))
    return image


def dicom_cases(folder: Path) -> list[LungCase]:
    """pyCERR's ``pat_*`` folders (one CT series + one RT-STRUCT each) → cases ``cerr_pat*`` with ``GTV-1``."""
    import pydicom

    from xtiny.datasets.rtstruct import contour_mask, read_ct_series

    patients = sorted((p for p in folder.glob("pat_*") if p.is_dir()), key=lambda p: int(p.name[4:] or 0))
    if not patients:
        raise XTinyError(f"{folder} holds no pat_* folder.", fix="delete the pyCERR archive and fetch it again.")
    cases = []
    for patient in patients:
        files = sorted(patient.glob("*.dcm"))
        modality = {f: str(pydicom.dcmread(str(f), stop_before_pixels=True).get("Modality", "")) for f in files}
        structs = [f for f in files if modality[f] == "RTSTRUCT"]
        if not structs:
            raise XTinyError(f"{patient} has no RT-STRUCT, so no {ROI_NAME} contour.",
                             fix="delete the pyCERR archive and fetch it again.")
        series = read_ct_series([f for f in files if modality[f] == "CT"])
        mask = contour_mask(structs[0], series, ROI_NAME)
        direction = np.column_stack([series.u, series.v, series.n]).ravel()
        ct = _sitk_volume(series.hu, series.spacing_zyx, series.origin, direction)
        lab = _sitk_volume(mask, series.spacing_zyx, series.origin, direction)
        cases.append(_on_grid(f"cerr_{patient.name.replace('_', '')}", ct, lab,
                              f"{PYCERR.filename}:{PYCERR.data_prefix}{patient.name} ({ROI_NAME})"))
    return cases


def nrrd_cases(data: Path) -> list[LungCase]:
    """pyradiomics' ``lung{1,2}_image.nrrd`` + ``_label.nrrd`` → cases ``pyrad_lung1``, ``pyrad_lung2``."""
    import SimpleITK as sitk

    cases = []
    for name in PYRADIOMICS_CASES:
        image_file, label_file = data / f"{name}_image.nrrd", data / f"{name}_label.nrrd"
        if not (image_file.is_file() and label_file.is_file()):
            raise XTinyError(f"{data} lacks {image_file.name} or {label_file.name}.",
                             fix="delete the pyradiomics archive and fetch it again.")
        ct, lab = sitk.ReadImage(str(image_file)), sitk.ReadImage(str(label_file))
        if ct.GetSize() != lab.GetSize():
            raise XTinyError(f"{image_file} {ct.GetSize()} and {label_file.name} {lab.GetSize()} differ in size.",
                             fix="delete the pyradiomics archive and fetch it again.")
        lab.CopyInformation(ct)
        cases.append(_on_grid(f"pyrad_{name}", ct, sitk.Cast(lab > 0, sitk.sitkUInt8),
                              f"{PYRADIOMICS.filename}:{PYRADIOMICS.data_prefix}data/{name}_*.nrrd"))
    return cases


def read_lungct_cases(archives: tuple[PinnedArchive, ...] | None = None, cache: Path | None = None, *,
                      fetch: bool = True, log: Callable[[str], None] = say) -> list[LungCase]:
    """Every case of the (checked, fetched when missing) archives, on the common grid."""
    archives = archives or LUNGCT_ARCHIVES
    paths = [ensure_archive(a, cache, fetch=fetch, log=log) for a in archives]
    with tempfile.TemporaryDirectory(prefix="xtiny-lungct-") as tmp:
        cases = []
        for archive, path in zip(archives, paths, strict=True):
            root = extract_data(archive, path, Path(tmp) / archive.filename)
            cases += dicom_cases(root) if archive.layout == "dicom" else nrrd_cases(root / "data")
    return cases


def _dataset_json(cases: list[LungCase], archives: tuple[PinnedArchive, ...], variant: str) -> dict:
    sources = "; ".join(f"{a.requirement} ({a.filename}, sha256 {a.sha256}): {a.license}" for a in archives)
    return {
        "channel_names": {"0": "CT"}, "labels": {"background": 0, "tumour": 1},
        "description": (f"Lung cancer CT with tumour contours, {len(cases)} patients, {variant}. pyCERR's "
                        f"radiomics phantom DICOM (RT-STRUCT {ROI_NAME} filled per slice) and pyradiomics' lung1/"
                        f"lung2 NRRD; resampled to {SPACING_ZYX} mm (z, y, x), cropped in-plane to {CROP_MM:g} mm "
                        "around the tumour. Folds by patient: splits_final.json."),
        "reference": "Lambin P. Radiomics Digital Phantom, CancerData (2016), doi:10.17195/candat.2016.08.1; "
                     "van Griethuysen et al., Cancer Research 2017 (pyradiomics)",
        "license": f"per source: cerr_pat* CC BY-NC 3.0 (non-commercial); pyrad_lung* see sources. {sources}",
        "converted_by": "xtiny datasets lungct",
        "xtiny": {"generator": "xtiny.datasets.lungct", "spacing_zyx_mm": list(SPACING_ZYX), "roi": ROI_NAME,
                  "crop_mm": CROP_MM, "archives": [{"requirement": a.requirement, "file": a.filename,
                                                    "sha256": a.sha256, "license": a.license} for a in archives],
                  "cases": {c.case_id: c.source for c in cases}},
    }


def _write_volumes(stage: Path, cases: list[LungCase], meta: dict) -> dict[str, str]:
    from xtiny.datasets.rawio import write_case, write_dataset_json

    for case in cases:
        write_case(stage, case.case_id, [case.hu], case.label, ".nii.gz", spacing_zyx=SPACING_ZYX)
    write_dataset_json(stage, num_training=len(cases), file_ending=".nii.gz", **meta)
    return {c.case_id: c.case_id for c in cases}


def block_mean(volume: np.ndarray, step: int) -> np.ndarray:
    """(Z, Y, X) → the mean of each ``step`` x ``step`` in-plane block (the last partial rows/columns dropped)."""
    if step == 1:
        return volume
    z, y, x = volume.shape
    y, x = y // step * step, x // step * step
    return volume[:, :y, :x].reshape(z, y // step, step, x // step, step).mean(axis=(2, 4))


def _write_slices(stage: Path, cases: list[LungCase], meta: dict, in_plane_step: int = 1) -> dict[str, str]:
    from xtiny.datasets.rawio import write_dataset_json
    from xtiny.datasets.slices import write_slice_cases

    lo, hi = HU_WINDOW
    groups: dict[str, str] = {}
    for case in cases:
        hu = block_mean(case.hu.astype(np.float32), in_plane_step)
        label = (block_mean(case.label.astype(np.float32), in_plane_step) >= 0.5).astype(np.uint8)
        grey = np.clip((hu - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
        for cid in write_slice_cases(stage, case.case_id, grey, label, min_fraction=0.0, require_label=True):
            groups[cid] = case.case_id
    meta["xtiny"] = {**meta["xtiny"], "hu_window": list(HU_WINDOW), "slices": "every axial slice holding tumour",
                     "in_plane_mm": SPACING_ZYX[1] * in_plane_step,
                     PATIENTS_KEY: groups}  # xtiny evaluate reports each patient's Dice over its slices
    write_dataset_json(stage, num_training=len(groups), file_ending=".png", **meta)
    return groups


def _with_splits(stage: Path, groups: dict[str, str]) -> list[dict]:
    """Patient folds of a staged dataset, kept as its ``splits_final.json``."""
    from xtiny.atomic import atomic_write_json
    from xtiny.nnunet.splits import group_splits

    splits = group_splits(groups)
    atomic_write_json(stage / "splits_final.json", splits)
    return splits


def build_lungct_dataset(*, raw_dir: str | Path, dataset_id: int = DEFAULT_ID, cache: Path | None = None,
                         fetch: bool = True, archives: tuple[PinnedArchive, ...] | None = None,
                         in_plane_step: int = 1, log: Callable[[str], None] = say) -> LungCTDatasets:
    """Write ``Dataset{id}_LungCT`` (3D) and ``Dataset{id+1}_LungCT2D`` (axial slices) and their patient folds.

    ``in_plane_step`` N > 1: the slices are the mean of N x N pixel blocks (a tumour pixel where half the block is
    tumour), an N mm in-plane grid for quick runs (the demo uses 2); the 3D volumes stay at :data:`SPACING_ZYX`.

    Everything is read and checked first (archives, hashes, contours); the datasets are then written into staging
    folders, validated and renamed into place, so an error leaves ``raw_dir`` as it was. The folds are installed
    into ``$nnUNet_preprocessed/<name>/splits_final.json`` (:func:`xtiny.paths.ensure_nnunet_env` first)."""
    from xtiny.datasets.rawio import check_id_free, dataset_folder_name, staged_dataset
    from xtiny.datasets.validate import validate_dataset
    from xtiny.nnunet.splits import install_splits

    if in_plane_step < 1:
        raise XTinyError(f"lungct: in-plane step {in_plane_step} is not a whole number >= 1.", fix="use 1 or 2.")
    raw_dir = Path(raw_dir)
    archives = archives or LUNGCT_ARCHIVES
    names = (dataset_folder_name(dataset_id, "LungCT"), dataset_folder_name(dataset_id + 1, "LungCT2D"))
    for offset, name in enumerate(names):
        check_id_free(raw_dir, dataset_id + offset, name)
    cases = read_lungct_cases(archives, cache, fetch=fetch, log=log)
    splits = {}
    with staged_dataset(raw_dir, names[0], validate=False) as stage3d:
        splits[names[0]] = _with_splits(stage3d, _write_volumes(
            stage3d, cases, {**_dataset_json(cases, archives, "3D volumes"), "dataset_name": names[0]}))
        validate_dataset(stage3d).raise_if_fatal()  # before the 2D variant is moved in
        with staged_dataset(raw_dir, names[1]) as stage2d:
            splits[names[1]] = _with_splits(stage2d, _write_slices(
                stage2d, cases, {**_dataset_json(cases, archives, "axial slices with tumour"), "dataset_name": names[1]},
                in_plane_step))
    for name, folds in splits.items():
        install_splits(name, folds)
    tumour_ml = {c.case_id: float(c.label.sum() * np.prod(SPACING_ZYX) / 1000.0) for c in cases}
    log(f"[xtiny] lungct: {len(cases)} patients at {SPACING_ZYX} mm; tumour mL: "
        + ", ".join(f"{k} {v:.1f}" for k, v in tumour_ml.items()))
    return LungCTDatasets(raw_dir / names[0], raw_dir / names[1], tuple(c.case_id for c in cases), tumour_ml)
