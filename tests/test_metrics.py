"""Metric values on hand-built masks, empty-mask conventions, aggregation, and agreement with nnU-Net."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from xtiny.evaluation.metrics import case_metrics, evaluate_folder, summarize


def _square(shift: int = 0, size: int = 48) -> np.ndarray:
    m = np.zeros((size, size), dtype=np.uint8)
    m[10:30, 10 + shift:30 + shift] = 1
    return m


def test_shifted_squares_known_dice_and_hd95():
    r = case_metrics(_square(3), _square(0), [1])[1]
    assert r["dice"] == pytest.approx(2 * 17 * 20 / 800)  # overlap 20x17 of two 20x20 squares
    assert r["hd95"] == pytest.approx(3.0)
    assert 0 < r["assd"] < 3.0


def test_spacing_scales_distances():
    # shift along the last axis; spacing 0.5 there → 1.5 physical units
    r = case_metrics(_square(3), _square(0), [1], spacing=(2.0, 0.5))[1]
    assert r["hd95"] == pytest.approx(1.5)
    # nnU-Net's 2D layout (1, H, W) with the dummy 999 spacing is squeezed away
    r2 = case_metrics(_square(3)[None], _square(0)[None], [1], spacing=(999.0, 1.0, 1.0))[1]
    assert r2["hd95"] == pytest.approx(3.0)


def test_empty_conventions_and_summary():
    empty = np.zeros((48, 48), dtype=np.uint8)
    both = case_metrics(empty, empty, [1])[1]
    assert (both["dice"], both["hd95"], both["assd"]) == (1.0, 0.0, 0.0)
    missed = case_metrics(empty, _square(), [1])[1]
    assert missed["dice"] == 0.0 and math.isnan(missed["hd95"]) and math.isnan(missed["assd"])
    records = [{"case": "a", "metrics": case_metrics(_square(3), _square(), [1])},
               {"case": "b", "metrics": {1: missed}}, {"case": "c", "metrics": {1: both}}]
    s = summarize(records, [1])
    dice = s["per_class"]["1"]["dice"]
    assert dice["mean"] == pytest.approx((0.85 + 0 + 1) / 3)
    assert dice["sd"] == pytest.approx(np.std([0.85, 0, 1], ddof=1))
    hd = s["per_class"]["1"]["hd95"]
    assert hd["undefined"] == 1 and hd["n"] == 2 and hd["mean"] == pytest.approx(1.5)
    assert s["dice_nnunet"]["1"] == pytest.approx(0.85 / 2)  # nnU-Net drops the both-empty case
    assert "both_empty" in s["conventions"] and "one_empty" in s["conventions"]


def test_agrees_with_nnunet_summary_json(tmp_path):
    from nnunetv2.evaluation.evaluate_predictions import compute_metrics_on_folder
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO
    from PIL import Image

    ref_dir, pred_dir = tmp_path / "ref", tmp_path / "pred"
    ref_dir.mkdir()
    pred_dir.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        ref = np.zeros((40, 40), np.uint8)
        ref[5:20, 5:25] = 1
        ref[25:35, 10 + i:30] = 2
        pred = ref.copy()
        pred[rng.integers(0, 40, 60), rng.integers(0, 40, 60)] = rng.integers(0, 3, 60)
        pred = np.roll(pred, i, axis=1)
        Image.fromarray(ref).save(ref_dir / f"case{i}.png")
        Image.fromarray(pred).save(pred_dir / f"case{i}.png")
    out = tmp_path / "summary.json"
    compute_metrics_on_folder(str(ref_dir), str(pred_dir), str(out), NaturalImage2DIO(), ".png", [1, 2],
                              num_processes=1)
    nn = json.loads(out.read_text())
    records = evaluate_folder(str(ref_dir), str(pred_dir), [1, 2], NaturalImage2DIO(), ".png")
    mine = summarize(records, [1, 2])
    for label in ("1", "2"):
        assert mine["per_class"][label]["dice"]["mean"] == pytest.approx(nn["mean"][label]["Dice"], abs=1e-6)
    per_case_nn = {p["prediction_file"].split("/")[-1][:-4]: p["metrics"] for p in nn["metric_per_case"]}
    for rec in records:
        assert rec["metrics"][1]["dice"] == pytest.approx(per_case_nn[rec["case"]]["1"]["Dice"], abs=1e-6)
