"""Validate an nnU-Net v2 raw dataset before nnU-Net sees it, with one actionable message per problem.

Files are read with nnU-Net's own reader classes (chosen as nnU-Net chooses them), so what passes here is
what nnU-Net's planning accepts. Use :func:`validate_dataset` from Python, ``xtiny datasets validate`` from
the shell.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xtiny.errors import XTinyError

REQUIRED_KEYS = ("channel_names", "labels", "numTraining", "file_ending")
MIN_CASES = 5  # nnU-Net's default split is a 5-fold KFold: fewer cases fail at training time


@dataclass(frozen=True)
class Problem:
    """One finding: which file, what is wrong, how to fix it; ``fatal`` ones make nnU-Net fail."""

    file: str
    message: str
    fix: str
    fatal: bool = True

    def __str__(self) -> str:
        kind = "error" if self.fatal else "warning"
        return f"{kind}: {self.file}: {self.message} Fix: {self.fix}"


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_dataset`."""

    folder: Path
    problems: list[Problem] = field(default_factory=list)
    num_cases: int = 0
    num_channels: int = 0
    labels: list[int] = field(default_factory=list)

    @property
    def fatal(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]

    @property
    def ok(self) -> bool:
        return not self.fatal

    def add(self, file: Path | str, message: str, fix: str, fatal: bool = True) -> None:
        self.problems.append(Problem(str(file), message, fix, fatal))

    def raise_if_fatal(self) -> None:
        """Raise an :class:`XTinyError` naming the first fatal problem (and how many there are)."""
        if self.fatal:
            first = self.fatal[0]
            more = f" (+{len(self.fatal) - 1} more)" if len(self.fatal) > 1 else ""
            raise XTinyError(f"dataset {self.folder} is not valid{more}: {first.file}: {first.message}",
                             fix=first.fix)



def _load_json(report: ValidationReport) -> dict[str, Any] | None:
    path = report.folder / "dataset.json"
    if not path.is_file():
        report.add(path, "dataset.json is missing.", "write it with nnunetv2's generate_dataset_json.")
        return None
    duplicates: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    try:
        meta = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=hook)
    except (ValueError, UnicodeDecodeError) as exc:
        report.add(path, f"dataset.json is not valid JSON ({exc}).", "fix the syntax or regenerate it.")
        return None
    for key in duplicates:
        report.add(path, f"duplicate case id or key '{key}' in dataset.json.", "give every case a unique id.")
    if not isinstance(meta, dict):
        report.add(path, "dataset.json must hold a JSON object.", "regenerate it with generate_dataset_json.")
        return None
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        report.add(path, f"dataset.json lacks required keys {missing}.", f"add {', '.join(missing)}.")
        return None
    return meta


def _expected_labels(report: ValidationReport, meta: dict[str, Any]) -> list[int] | None:
    from xtiny.nnunet.raw_format import label_manager

    path = report.folder / "dataset.json"
    labels = meta["labels"]
    if not isinstance(labels, dict) or "background" not in labels or labels.get("background") != 0:
        report.add(path, "'labels' must map names to values and include \"background\": 0.",
                   'add "background": 0 to labels.')
        return None
    try:
        manager = label_manager(labels, meta.get("regions_class_order"))
    except Exception as exc:  # nnU-Net raises AssertionError/TypeError on malformed label specs
        report.add(path, f"labels are malformed for nnU-Net ({exc}).", "see nnU-Net's dataset_format.md.")
        return None
    expected = sorted(int(v) for v in manager.all_labels)
    if manager.has_ignore_label:
        expected.append(int(manager.ignore_label))
    if any(b - a != 1 for a, b in zip(expected, expected[1:], strict=False)):
        report.add(path, f"label values {expected} are not consecutive (0, 1, 2, ...).",
                   "renumber the labels consecutively (and the label files with them).")
    if manager.has_regions and meta.get("regions_class_order") is None:
        report.add(path, "region-based labels need 'regions_class_order'.", "add regions_class_order to dataset.json.")
    return expected


def _cases_from_json(report: ValidationReport, meta: dict[str, Any]) -> dict[str, tuple[list[Path], Path]]:
    cases: dict[str, tuple[list[Path], Path]] = {}
    path = report.folder / "dataset.json"
    entries = meta["dataset"]
    if not isinstance(entries, dict):
        report.add(path, "'dataset' must map case ids to {images, label}.", "fix the 'dataset' entry.")
        return cases
    for cid, entry in entries.items():
        if not isinstance(entry, dict) or "images" not in entry or "label" not in entry:
            report.add(path, f"case '{cid}' needs 'images' (list) and 'label'.", "fix that entry.")
            continue
        files = [report.folder / str(p) for p in entry["images"]] + [report.folder / str(entry["label"])]
        outside = [str(p) for p in files if not p.resolve().is_relative_to(report.folder.resolve())]
        if outside:
            report.add(path, f"case '{cid}' references {outside[0]}, outside the dataset folder.",
                       "keep every file inside the dataset folder and use relative paths without '..'.")
            continue
        cases[str(cid)] = (files[:-1], files[-1])
    return cases


def _cases_from_folders(report: ValidationReport, ending: str) -> dict[str, tuple[list[Path], Path]]:
    images_dir, labels_dir = report.folder / "imagesTr", report.folder / "labelsTr"
    for d in (images_dir, labels_dir):
        if not d.is_dir():
            report.add(d, f"{d.name} folder is missing.", f"put the training files into {d.name}/.")
            return {}
    pattern = re.compile(r"(.+)_(\d{4})" + re.escape(ending))
    channels: dict[str, list[Path]] = {}
    for f in sorted(images_dir.iterdir()):
        if f.name.startswith("."):
            continue
        match = pattern.fullmatch(f.name)
        if not match:
            report.add(f, f"file name does not follow CASE_XXXX{ending}; nnU-Net ignores it.",
                       f"rename it to CASEID_0000{ending} (4-digit channel index) or remove it.", fatal=False)
            continue
        channels.setdefault(match.group(1), []).append(f)
    lowered: dict[str, str] = {}
    for cid in channels:
        if cid.lower() in lowered:
            report.add(images_dir / f"{cid}_0000{ending}", f"duplicate case id '{cid}' (same as "
                       f"'{lowered[cid.lower()]}' ignoring case).", "give every case a unique id.")
        lowered[cid.lower()] = cid
    all_idx = sorted({f.name[len(c) + 1:len(c) + 5] for c, fs in channels.items() for f in fs})
    for cid, files in channels.items():
        have = {f.name[len(cid) + 1:len(cid) + 5] for f in files}
        for idx in all_idx:
            if idx not in have:
                report.add(images_dir / f"{cid}_{idx}{ending}", f"missing channel file {idx} of case '{cid}'.",
                           "add the missing channel image (every case needs the same channels) or drop the case.")
    cases = {}
    for cid, files in channels.items():
        label = labels_dir / f"{cid}{ending}"
        cases[cid] = (files, label)
    images_ids = set(channels)
    for f in sorted(labels_dir.glob("*" + ending)):
        if f.name[: -len(ending)] not in images_ids:
            report.add(f, "label without images; nnU-Net ignores it.", "add its images or remove it.", fatal=False)
    return cases


def _nifti_finite(images: list[Path]) -> bool:
    """NaN/inf check on the stored NIfTI voxels (some readers silently turn NaN into numbers)."""
    import nibabel as nib

    nifti = [f for f in images if f.name.endswith((".nii", ".nii.gz"))]
    return all(np.all(np.isfinite(np.asarray(nib.load(str(f)).dataobj))) for f in nifti)


def _check_case(report: ValidationReport, reader: Any, cid: str, images: list[Path], label: Path,
                ending: str, expected: list[int]) -> None:
    for f in images + [label]:
        if not f.is_file():
            what = "label" if f == label else "image"
            report.add(f, f"{what} file of case '{cid}' is missing.", f"add {f.name} or remove the case.")
            return
    if ending in (".png", ".bmp", ".tif", ".tiff") and type(reader).__name__ == "NaturalImage2DIO":
        from skimage import io

        for f in images + [label]:
            try:
                arr = io.imread(str(f))
            except Exception as exc:  # truncated/corrupt files: PIL raises OSError, SyntaxError, ValueError...
                report.add(f, f"cannot read case '{cid}': {f.name} is corrupt or not an image "
                           f"({type(exc).__name__}: {exc}).", "re-export or re-download that file.")
                return
            if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)) or \
                    (f == label and arr.ndim != 2):
                report.add(f, f"not a 2D {'label' if f == label else 'grey/RGB'} image (array shape {arr.shape}).",
                           "save 2D images as single-channel or RGB PNG and labels as single-channel PNG.")
                return
    try:
        data, props = reader.read_images([str(f) for f in images])
        seg, seg_props = reader.read_seg(str(label))
        images_finite = bool(np.all(np.isfinite(data))) and _nifti_finite(images)
        _nifti_finite([label])  # full decompression: SimpleITK silently accepts a truncated .nii.gz
    except Exception as exc:  # nnU-Net readers raise anything from RuntimeError to AssertionError
        report.add(images[0], f"nnU-Net cannot read case '{cid}' ({type(exc).__name__}: {exc}).",
                   "re-save the files in a format nnU-Net reads (same shapes across channels).")
        return
    if data.shape[0] != report.num_channels:
        report.add(images[0], f"case '{cid}' has {data.shape[0]} channels, dataset.json declares "
                   f"{report.num_channels}.", "make channel_names match the image channels (RGB PNG = 3).")
    if not images_finite:
        report.add(images[0], f"case '{cid}' image contains NaN or inf intensities.",
                   "replace non-finite values (e.g. numpy.nan_to_num) before conversion.")
    if data.shape[1:] != seg.shape[1:]:
        report.add(label, f"shape mismatch: images {tuple(data.shape[1:])} vs label {tuple(seg.shape[1:])}.",
                   "resample/crop the label to the image grid.")
    elif not np.allclose(props["spacing"], seg_props["spacing"]):
        report.add(label, f"spacing mismatch: images {[float(v) for v in props['spacing']]} vs label "
                   f"{[float(v) for v in seg_props['spacing']]}.", "write the label with the image's header/spacing.")
    if not np.all(np.isfinite(seg)) or np.any(seg != np.round(seg)):
        report.add(label, "label contains NaN/inf or non-integer values.", "store labels as integers.")
        return
    bad = sorted(set(np.unique(seg).astype(int).tolist()) - set(expected))
    if bad:
        report.add(label, f"label values {bad} are not in dataset.json labels {expected}.",
                   "remap those values or declare them in 'labels'.")


def validate_dataset(path: str | Path, *, max_cases: int | None = None) -> ValidationReport:
    """Check an nnU-Net raw dataset folder; returns a :class:`ValidationReport` (never raises on bad data).

    ``max_cases`` limits how many cases are read (all by default); the structure is always checked fully.
    """
    report = ValidationReport(Path(path))
    folder = report.folder
    if not folder.is_dir():
        report.add(folder, "dataset folder does not exist.", "pass an existing nnU-Net raw dataset folder or id.")
        return report
    meta = _load_json(report)
    if meta is None:
        return report
    ending = str(meta["file_ending"])
    report.num_channels = len(meta["channel_names"]) if isinstance(meta["channel_names"], dict) else 0
    if report.num_channels == 0:
        report.add(folder / "dataset.json", "channel_names is empty.", 'declare channels, e.g. {"0": "CT"}.')
    expected = _expected_labels(report, meta)
    cases = _cases_from_json(report, meta) if "dataset" in meta else _cases_from_folders(report, ending)
    report.num_cases = len(cases)
    if not cases:
        report.add(folder, "the dataset has no training cases.", "add images to imagesTr and labels to labelsTr.")
        return report
    if len(cases) < MIN_CASES:
        report.add(folder, f"the dataset has only {len(cases)} training case(s); nnU-Net needs at least "
                   f"{MIN_CASES} for its default 5-fold cross-validation split.",
                   f"add cases (at least {MIN_CASES}), or write your own splits_final.json.",
                   fatal=len(cases) < 2)
    if meta["numTraining"] != len(cases):
        report.add(folder / "dataset.json", f"numTraining is {meta['numTraining']} but {len(cases)} cases were "
                   "found.", f"set numTraining to {len(cases)}.")
    seen: dict[Path, str] = {}
    for cid, (images, _label) in cases.items():
        for f in images:
            if f.resolve() in seen:
                report.add(f, f"duplicate case: '{cid}' and '{seen[f.resolve()]}' use the same file.",
                           "give every case its own files.")
            seen[f.resolve()] = cid
    if expected is None:
        return report
    report.labels = expected
    from xtiny.nnunet.raw_format import image_reader

    try:
        reader = image_reader(meta)
    except Exception as exc:  # nnU-Net raises RuntimeError when no reader fits
        report.add(folder / "dataset.json", f"no nnU-Net reader supports file_ending '{ending}' ({exc}).",
                   "use .nii.gz for 3D and .png for 2D data.")
        return report
    for n, (cid, (images, label)) in enumerate(sorted(cases.items())):
        if max_cases is not None and n >= max_cases:
            break
        _check_case(report, reader, cid, images, label, ending, expected)
    return report
