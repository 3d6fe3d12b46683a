"""Per-case, per-class segmentation metrics (MONAI's implementations) and their aggregates.

Metrics: Dice (``monai.metrics.compute_dice``), HD95 (``compute_hausdorff_distance(percentile=95)``,
symmetric) and ASSD, the symmetric mean average surface distance (``compute_average_surface_distance(
symmetric=True)``). Distances are in physical units using the image spacing (mm for NIfTI/MHA);
for PNG/natural 2D images nnU-Net reports spacing 1, so distances are in pixels.

Conventions for empty masks (stated in every summary under ``"conventions"``):
- reference and prediction both empty: Dice = 1, HD95 = 0, ASSD = 0 (perfect agreement);
- exactly one empty: Dice = 0, HD95 = ASSD = NaN (undefined; MONAI would return inf/nan). Aggregates
  ignore NaN distances and report how many were undefined (``hd95_undefined``) so nothing is hidden.
nnU-Net's own summary.json instead sets Dice = NaN when both are empty and averages with nanmean;
:func:`summarize` also reports that nnU-Net-compatible mean (``dice_nnunet``) so the two can be compared.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence

import numpy as np

METRICS = ("dice", "hd95", "assd")
CONVENTIONS = {
    "both_empty": "Dice = 1, HD95 = 0, ASSD = 0",
    "one_empty": "Dice = 0, HD95 = ASSD = NaN (undefined); excluded from distance means and counted in *_undefined",
    "units": "distances in physical units from the image spacing (pixels for PNG)",
    "sd": "sample standard deviation (ddof=1) over cases; 0 with one case",
    "foreground": "per case mean over foreground classes (NaN-ignoring), then mean and sd over cases",
}


def _squeeze(arr: np.ndarray, spacing: Sequence[float] | None) -> tuple[np.ndarray, tuple[float, ...]]:
    """Drop singleton axes (nnU-Net reads 2D images as (1, 1, H, W) with a dummy 999 spacing)."""
    arr = np.asarray(arr)
    sp = tuple(float(s) for s in (spacing if spacing is not None else (1.0,) * arr.ndim))
    if len(sp) < arr.ndim:  # leading channel axis
        sp = (1.0,) * (arr.ndim - len(sp)) + sp
    keep = [i for i, n in enumerate(arr.shape) if n > 1]
    if len(keep) < 2:
        keep = list(range(arr.ndim))[-2:]
    return arr.reshape([arr.shape[i] for i in keep]), tuple(sp[i] for i in keep)


def case_metrics(pred: np.ndarray, ref: np.ndarray, labels: Iterable[int],
                 spacing: Sequence[float] | None = None) -> dict[int, dict[str, float]]:
    """Dice, HD95 and ASSD of each label between two label maps of the same shape.

    ``spacing`` gives the physical size of one voxel per axis (same order as the arrays);
    ``None`` means 1 (pixels). Returns ``{label: {"dice", "hd95", "assd", "n_ref", "n_pred"}}``.
    """
    import torch
    from monai.metrics import compute_average_surface_distance, compute_dice, compute_hausdorff_distance

    if np.shape(pred) != np.shape(ref):
        raise ValueError(f"prediction shape {np.shape(pred)} != reference shape {np.shape(ref)}")
    p, sp = _squeeze(pred, spacing)
    r, _ = _squeeze(ref, spacing)
    out: dict[int, dict[str, float]] = {}
    for label in labels:
        pm, rm = p == label, r == label
        n_pred, n_ref = int(pm.sum()), int(rm.sum())
        res = {"n_ref": n_ref, "n_pred": n_pred}
        if n_pred == 0 and n_ref == 0:
            res.update(dice=1.0, hd95=0.0, assd=0.0)
        elif n_pred == 0 or n_ref == 0:
            res.update(dice=0.0, hd95=math.nan, assd=math.nan)
        else:
            tp = torch.from_numpy(pm[None, None].astype(np.float32))
            tr = torch.from_numpy(rm[None, None].astype(np.float32))
            res["dice"] = float(compute_dice(tp, tr, include_background=True, ignore_empty=False)[0, 0])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res["hd95"] = float(compute_hausdorff_distance(tp, tr, include_background=True, percentile=95,
                                                               spacing=list(sp))[0, 0])
                res["assd"] = float(compute_average_surface_distance(tp, tr, include_background=True, symmetric=True,
                                                                     spacing=list(sp))[0, 0])
        out[int(label)] = res
    return out


def _mean_sd(values: Sequence[float]) -> dict[str, float | int | None]:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return {"mean": None, "sd": None, "n": 0, "undefined": int(arr.size)}
    sd = float(np.std(finite, ddof=1)) if finite.size > 1 else 0.0
    return {"mean": float(finite.mean()), "sd": sd, "n": int(finite.size), "undefined": int(arr.size - finite.size)}


def summarize(records: Sequence[dict], labels: Sequence[int]) -> dict:
    """Aggregate per-case records (``{"case", "metrics": {label: {...}}}``) into mean ± sd per class and foreground.

    Returns ``{"per_class": {label: {metric: {mean, sd, n, undefined}}}, "foreground": {...},
    "dice_nnunet": {label: mean}, "conventions": ...}``.
    """
    per_class: dict[str, dict] = {}
    dice_nnunet: dict[str, float | None] = {}
    for label in labels:
        rows = [rec["metrics"][int(label)] for rec in records]
        per_class[str(label)] = {m: _mean_sd([row[m] for row in rows]) for m in METRICS}
        nn_vals = [row["dice"] for row in rows if row["n_ref"] + row["n_pred"] > 0]
        dice_nnunet[str(label)] = float(np.mean(nn_vals)) if nn_vals else None
    foreground = {}
    for m in METRICS:
        per_case = []
        for rec in records:
            vals = np.asarray([rec["metrics"][int(lb)][m] for lb in labels], dtype=float)
            vals = vals[np.isfinite(vals)]
            per_case.append(float(vals.mean()) if vals.size else math.nan)
        foreground[m] = _mean_sd(per_case)
    return {"num_cases": len(records), "labels": [int(x) for x in labels], "per_class": per_class,
            "foreground": foreground, "dice_nnunet": dice_nnunet, "conventions": CONVENTIONS}


def evaluate_folder(ref_folder: str, pred_folder: str, labels: Sequence[int], reader_writer,
                    file_ending: str, case_ids: Sequence[str] | None = None) -> list[dict]:
    """Per-case metrics of every prediction in ``pred_folder`` against ``ref_folder``, read with nnU-Net's reader.

    ``case_ids`` restricts (and orders) the cases; a missing prediction raises ``FileNotFoundError``.
    """
    from pathlib import Path

    ref_dir, pred_dir = Path(ref_folder), Path(pred_folder)
    if case_ids is None:
        case_ids = sorted(p.name[: -len(file_ending)] for p in pred_dir.glob(f"*{file_ending}"))
    records = []
    for case in case_ids:
        pred_file, ref_file = pred_dir / f"{case}{file_ending}", ref_dir / f"{case}{file_ending}"
        for f in (pred_file, ref_file):
            if not f.is_file():
                raise FileNotFoundError(f"missing segmentation {f}")
        ref, props = reader_writer.read_seg(str(ref_file))
        pred, _ = reader_writer.read_seg(str(pred_file))
        spacing = props.get("spacing")
        records.append({"case": case, "metrics": case_metrics(pred[0], ref[0], labels, spacing)})
    return records
