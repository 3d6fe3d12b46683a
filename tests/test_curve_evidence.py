"""The product's defaults that rest on the learning-curve bench say what the bench's committed summary says."""

from __future__ import annotations

import json
from pathlib import Path

SUMMARY = Path(__file__).resolve().parents[1] / "bench" / "results" / "curves_summary_800it_cpu.json"


def test_confirm_default_and_the_reports_evidence_are_the_bench_summarys() -> None:
    from xtiny.training import CONFIRM_BUDGET_FRACTION
    from xtiny.training.schedules.curve_evidence import CURVE_MEASURED_UP_TO, PICK_HOLDS_FROM

    summary = json.loads(SUMMARY.read_text())
    assert CONFIRM_BUDGET_FRACTION == summary["default_fraction"]
    assert PICK_HOLDS_FROM == summary["holds_from"]
    assert CURVE_MEASURED_UP_TO == summary["full_iterations"]


def test_training_length_note_sets_the_runs_length_beside_the_bench() -> None:
    from xtiny.training.schedules.curve_evidence import (
        CURVE_MEASURED_UP_TO,
        PICK_HOLDS_FROM,
        training_length_note,
    )

    short = training_length_note(40)
    assert "40 iterations per width" in short and all(name in short for name in PICK_HOLDS_FROM)
    held = [v for v in PICK_HOLDS_FROM.values() if v is not None]
    assert f"held on 0 of {len(PICK_HOLDS_FROM)}" in short or (held and min(held) <= 40)
    long = training_length_note(10 * CURVE_MEASURED_UP_TO)
    assert "10x the longest measured length" in long and "no evidence either way" in long
