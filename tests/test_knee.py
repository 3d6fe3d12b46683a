"""The paper's total-variation knee rule and the comparison rule, on hand-made curves."""

from __future__ import annotations

import math

import pytest

from xtiny.errors import XTinyError
from xtiny.sensitivity.knee import piecewise_knee, select_knee, tv_knee

CAPS6 = [32, 16, 8, 4, 2, 1]


def test_tv_hand_computed_curve():
    # normalized = scores (min 0, max 1); d = [0, 0, 0.1, 0.4, 0.5]
    # k=2: before = mean(0, 0) = 0, after = mean(0, .1, .4, .5) = 0.25 -> gain 0.25
    # k=3: before = mean(0, 0, .1) = 1/30, after = mean(.1, .4, .5) = 1/3 -> gain 0.3  (max) -> pick position 2
    knee = tv_knee(CAPS6, [1.0, 1.0, 1.0, 0.9, 0.5, 0.0])
    assert knee.details["k"] == 3
    assert knee.index == 2 and knee.chosen_cap == 8
    assert knee.details["gains"]["2"] == pytest.approx(0.25)
    assert knee.details["gains"]["3"] == pytest.approx(0.3)
    assert knee.variation[0] is None and knee.variation[4] == pytest.approx(0.4)


def test_tv_orders_by_cap_and_normalizes():
    # same curve, given narrowest first and scaled/shifted: identical pick and normalized scores
    scores = [10 + 3 * s for s in [1.0, 1.0, 1.0, 0.9, 0.5, 0.0]]
    names = [f"2d_xtiny{c}" for c in CAPS6]
    knee = select_knee(CAPS6[::-1], scores[::-1], names[::-1], rule="tv")
    assert knee.caps == CAPS6
    assert knee.chosen == "2d_xtiny8"
    assert knee.normalized == pytest.approx([1.0, 1.0, 1.0, 0.9, 0.5, 0.0])


def test_tv_five_candidates_single_split():
    knee = tv_knee([16, 8, 4, 2, 1], [0.0, 0.1, 0.2, 0.6, 1.0])
    assert list(knee.details["gains"]) == ["2"] and knee.index == 1


def test_tv_ties_take_first_k():
    # exactly linear curve in binary fractions: every d_j = 0.125, every gain exactly 0 -> first k (2) -> position 1
    scores = [1 - j / 8 for j in range(9)]
    knee = tv_knee([256, 128, 64, 32, 16, 8, 4, 2, 1], scores)
    assert set(knee.details["gains"].values()) == {0.0}
    assert knee.details["k"] == 2 and knee.index == 1 and knee.chosen_cap == 128


def test_tv_realistic_collapse_picks_last_plateau_member():
    # slow drift on the plateau, abrupt changes after cap 8
    scores = [1.00, 0.98, 0.97, 0.95, 0.94, 0.92, 0.70, 0.35, 0.10, 0.0]
    caps = [512, 256, 128, 64, 32, 16, 8, 4, 2, 1]
    knee = tv_knee(caps, scores)
    # d = [.02,.01,.02,.01,.02,.22,.35,.25,.10]; gain(6) = mean(d5..d8) - mean(d0..d5) = .23 - .05 = .18 is the largest
    assert knee.details["k"] == 6 and knee.details["gains"]["6"] == pytest.approx(0.18)
    assert knee.chosen_cap == 16


def test_flat_curve_picks_widest_and_is_flagged():
    for rule in ("tv", "pwl"):
        knee = select_knee(CAPS6, [2.5] * 6, rule=rule)
        assert knee.flat and knee.index == 0 and knee.chosen_cap == 32
        assert knee.normalized == [0.0] * 6


def test_nan_score_names_candidate():
    names = [f"2d_xtiny{c}" for c in CAPS6]
    with pytest.raises(XTinyError, match="2d_xtiny4"):
        tv_knee(CAPS6, [1, 1, 1, math.nan, 0.5, 0], names)
    with pytest.raises(XTinyError, match="2d_xtiny1"):
        tv_knee(CAPS6, [1, 1, 1, 1, 0.5, math.inf], names)


def test_fewer_than_five_candidates():
    with pytest.raises(XTinyError, match="at least 5"):
        tv_knee([8, 4, 2, 1], [1.0, 0.5, 0.2, 0.0])


def test_duplicate_caps_and_unknown_rule():
    with pytest.raises(XTinyError, match="duplicate"):
        tv_knee([8, 8, 4, 2, 1], [1, 1, 0.5, 0.2, 0])
    with pytest.raises(XTinyError, match="unknown knee rule"):
        select_knee(CAPS6, [1, 1, 1, 0.9, 0.5, 0], rule="nope")


def test_piecewise_rule_finds_breakpoint():
    # plateau at 0 for positions 0..3, then a straight fall: best two-line fit breaks at position 3
    knee = piecewise_knee([64, 32, 16, 8, 4, 2, 1], [0, 0, 0, 0, 1, 2, 3])
    assert knee.index == 3 and knee.rule == "pwl"
