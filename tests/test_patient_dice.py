"""Per-patient Dice pools each patient's slices: checked against voxel counts taken from the arrays themselves, from
our per-case records and from nnU-Net's own summary.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xtiny.evaluation.metrics import evaluate_folder
from xtiny.evaluation.patient_dice import dice_by_patient, patients_of, records_of_validation_summary


def _slices(tmp_path):  # noqa: ANN001, ANN202
    from PIL import Image

    ref_dir, pred_dir = tmp_path / "ref", tmp_path / "pred"
    ref_dir.mkdir()
    pred_dir.mkdir()
    rng = np.random.default_rng(1)
    arrays, patients = {}, {}
    for patient, n in (("pat_a", 3), ("pat_b", 3)):
        for z in range(n):
            case = f"{patient}_z{z:03d}"
            ref = np.zeros((32, 32), np.uint8)
            ref[4:4 + 6 * (z + 1), 5:20] = 1  # slices of very different sizes: pooling differs from the mean
            pred = np.roll(ref, int(rng.integers(1, 6)), axis=int(rng.integers(0, 2)))
            if patient == "pat_b" and z == 2:
                ref[:] = 0  # no tumour on this slice: the prediction there is all false positive
            Image.fromarray(ref).save(ref_dir / f"{case}.png")
            Image.fromarray(pred).save(pred_dir / f"{case}.png")
            arrays[case], patients[case] = (ref, pred), patient
    return ref_dir, pred_dir, arrays, patients


def _expected(arrays: dict, patients: dict) -> dict[str, float]:
    out = {}
    for patient in sorted(set(patients.values())):
        pairs = [arrays[c] for c in arrays if patients[c] == patient]
        tp = sum(int(((r == 1) & (p == 1)).sum()) for r, p in pairs)
        size = sum(int((r == 1).sum() + (p == 1).sum()) for r, p in pairs)
        out[patient] = 2 * tp / size
    return out


def test_pooled_over_each_patients_slices(tmp_path) -> None:  # noqa: ANN001
    from nnunetv2.evaluation.evaluate_predictions import compute_metrics_on_folder
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO

    ref_dir, pred_dir, arrays, patients = _slices(tmp_path)
    expected = _expected(arrays, patients)
    records = evaluate_folder(str(ref_dir), str(pred_dir), [1], NaturalImage2DIO(), ".png")
    ours = dice_by_patient(records, patients, [1])
    assert {p: v["cases"] for p, v in ours.items()} == {"pat_a": 3, "pat_b": 3}
    for patient, dice in expected.items():
        assert ours[patient]["dice"] == pytest.approx(dice, abs=1e-6)
        case_mean = np.mean([r["metrics"][1]["dice"] for r in records if patients[r["case"]] == patient])
        assert abs(ours[patient]["dice"] - case_mean) > 1e-3  # pooled, not the mean of the slices' Dice

    out = tmp_path / "summary.json"
    compute_metrics_on_folder(str(ref_dir), str(pred_dir), str(out), NaturalImage2DIO(), ".png", [1],
                              num_processes=1)
    from_nnunet = dice_by_patient(records_of_validation_summary(json.loads(out.read_text()), ".png"), patients, [1])
    for patient, dice in expected.items():
        assert from_nnunet[patient]["dice"] == pytest.approx(dice, abs=1e-6)


def test_patients_come_from_dataset_json() -> None:
    assert patients_of({"xtiny": {"patients": {"p1_z000": "p1"}}}) == {"p1_z000": "p1"}
    assert patients_of({"xtiny": {"generator": "synth"}}) is None
    assert patients_of({}) is None
