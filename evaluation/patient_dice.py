"""Per-patient Dice of a dataset whose cases are slices of patients (``xtiny datasets lungct``' 2D variant).

A slice dataset declares the patient of each case in its ``dataset.json`` (``xtiny.patients``: ``{case: patient}``).
A patient's Dice pools the voxels of all its slices: 2·ΣTP / (ΣTP+ΣFP + ΣTP+ΣFN) = Σ Dice_i·(n_ref_i+n_pred_i) /
Σ(n_ref_i+n_pred_i), i.e. the 3D Dice over the slices in the dataset (for lungct: the slices that hold tumour, so a
false positive on a tumour-free slice is not counted). Per foreground label, then the mean over labels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from xtiny.datasets.rawio import PATIENTS_KEY

POOLING = ("patient Dice pools its slices' voxels: 2*sum TP / (sum n_ref + sum n_pred) over the patient's cases in "
           "the dataset")


def patients_of(dataset_json: Mapping) -> dict[str, str] | None:
    """``{case: patient}`` that a dataset declares (``dataset.json["xtiny"]["patients"]``), or None."""
    patients = (dataset_json.get("xtiny") or {}).get(PATIENTS_KEY)  # written by the dataset's builder
    return dict(patients) if isinstance(patients, Mapping) and patients else None


def pooled_dice(cases: Sequence[Mapping]) -> float | None:
    """The Dice of several cases' voxels together, from each case's ``dice``, ``n_ref`` and ``n_pred`` (None when
    neither reference nor prediction holds a voxel)."""
    overlap = total = 0.0
    for case in cases:
        size = float(case["n_ref"]) + float(case["n_pred"])
        if size > 0:
            dice = case["dice"]
            overlap += (0.0 if dice is None or not math.isfinite(dice) else float(dice)) * size
            total += size
    return overlap / total if total > 0 else None


def dice_by_patient(records: Sequence[Mapping], patients: Mapping[str, str], labels: Sequence[int]) -> dict:
    """``{patient: {"dice", "cases", "per_label"}}`` from per-case records ``{"case", "metrics": {label: {"dice",
    "n_ref", "n_pred"}}}`` (:func:`xtiny.evaluation.metrics.evaluate_folder`'s); a case no patient claims is its own
    patient."""
    grouped: dict[str, list[Mapping]] = {}
    for record in records:
        grouped.setdefault(patients.get(record["case"], record["case"]), []).append(record)
    out = {}
    for patient, cases in sorted(grouped.items()):
        per_label = {str(lb): pooled_dice([_label_metrics(c, lb) for c in cases]) for lb in labels}
        defined = [v for v in per_label.values() if v is not None]
        out[patient] = {"dice": sum(defined) / len(defined) if defined else None, "cases": len(cases),
                        "per_label": per_label}
    return out


def _label_metrics(record: Mapping, label: int) -> Mapping:
    metrics = record["metrics"]
    return metrics[label] if label in metrics else metrics[str(label)]


def records_of_validation_summary(summary: Mapping, file_ending: str) -> list[dict]:
    """nnU-Net's ``summary.json`` (or the MONAI backend's, same keys) as per-case records for
    :func:`dice_by_patient`: the case id from ``reference_file`` (its folder and ``file_ending`` dropped; the MONAI
    backend writes the bare id), ``Dice``/``n_ref``/``n_pred`` per label."""
    from pathlib import PurePath

    records = []
    for entry in summary["metric_per_case"]:
        name = PurePath(entry["reference_file"]).name
        case = name[: -len(file_ending)] if file_ending and name.endswith(file_ending) else name
        records.append({"case": case, "metrics": {
            str(lb): {"dice": m.get("Dice"), "n_ref": m.get("n_ref", 0), "n_pred": m.get("n_pred", 0)}
            for lb, m in entry["metrics"].items()}})
    return records
