"""Knee selection on a width family's sensitivity curve.

All rules take the candidates' caps and scores, order them widest first, min-max normalize the scores
and return a :class:`Knee`. The default ``tv`` rule is the paper's total-variation rule, implemented
literally as published (Kimbowa et al., "XTinyU-Net", arXiv 2605.09639):

1. order by cap (widest first), min-max normalize the scores to [0, 1];
2. ``d_j = |norm_j - norm_(j+1)|`` for j = 0 .. n-2;
3. for every split ``2 <= k <= n-3``: ``before = mean(d_0 .. d_(k-1))``,
   ``after = mean(d_(k-1) .. d_(n-2))`` (``d_(k-1)`` in both), ``gain(k) = after - before``;
   take the largest gain, the first k on ties (exact comparison);
4. the pick is position ``k-1`` in the widest-first order.

Edge cases (defined here, tested in ``tests/test_knee.py``):

* fewer than 5 candidates → :class:`XTinyError` (no valid split exists for n < 5);
* a NaN / infinite score → :class:`XTinyError` naming the candidate;
* duplicate caps → :class:`XTinyError`;
* a *flat* curve (all scores equal, so min-max normalization is undefined): every normalized score is
  defined as 0, ``flat`` is set, and the rule picks the **widest** candidate (position 0): with no
  measurable change in sensitivity there is no evidence of collapse, so the choice that cannot lose
  accuracy is returned and the caller can warn. "Equal" means ``max - min <= 1e-12 * max(|score|)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from xtiny.errors import XTinyError
from xtiny.registry import Registry

RULES: Registry[Callable[..., Knee]] = Registry("knee rule")
MIN_CANDIDATES = 5
FLAT_RTOL = 1e-12


@dataclass
class Knee:
    """Result of a knee rule, everything in widest-first order."""

    rule: str
    names: list[str]
    caps: list[int]
    scores: list[float]
    normalized: list[float]
    variation: list[float | None]  # |norm_i - norm_(i-1)|; None for the widest candidate
    index: int  # position of the pick in widest-first order
    flat: bool = False
    details: dict = field(default_factory=dict)

    @property
    def chosen(self) -> str:
        return self.names[self.index]

    @property
    def chosen_cap(self) -> int:
        return self.caps[self.index]


class _Curve(NamedTuple):
    """A validated curve, widest first: its min-max normalized scores, their steps ``d`` and whether it is flat."""

    caps: list[int]
    scores: list[float]
    names: list[str]
    norm: np.ndarray
    d: np.ndarray
    flat: bool


def _prepare(caps: Sequence[int], scores: Sequence[float], names: Sequence[str] | None) -> _Curve:
    """Validate and sort widest first; return the :class:`_Curve`."""
    caps = [int(c) for c in caps]
    scores = [float(s) for s in scores]
    names = [str(n) for n in names] if names is not None else [f"cap {c}" for c in caps]
    if not (len(caps) == len(scores) == len(names)):
        raise XTinyError(f"knee rule: {len(caps)} caps, {len(scores)} scores and {len(names)} names differ.")
    for name, score in zip(names, scores, strict=True):
        if not math.isfinite(score):
            raise XTinyError(
                f"sensitivity score of candidate {name} is {score}; the knee cannot be located.",
                fix="check the network/inputs for that candidate (e.g. non-finite preprocessed data) and rerun.",
            )
    if len(caps) < MIN_CANDIDATES:
        raise XTinyError(
            f"the knee rule needs at least {MIN_CANDIDATES} candidates, got {len(caps)} ({', '.join(names)}).",
            fix="pass more caps (e.g. the default C, C/2, ..., 1).",
        )
    if len(set(caps)) != len(caps):
        raise XTinyError(f"duplicate caps in the candidate family: {caps}.", fix="pass each cap once.")
    order = sorted(range(len(caps)), key=lambda i: -caps[i])
    caps = [caps[i] for i in order]
    scores = [scores[i] for i in order]
    names = [names[i] for i in order]
    arr = np.asarray(scores, dtype=np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    flat = (hi - lo) <= FLAT_RTOL * max(abs(lo), abs(hi))
    norm = np.zeros_like(arr) if flat else (arr - lo) / (hi - lo)
    d = np.abs(np.diff(norm))
    return _Curve(caps, scores, names, norm, d, flat)


def _result(rule: str, curve: _Curve, index: int, details: dict) -> Knee:
    variation: list[float | None] = [None] + [float(x) for x in curve.d]
    return Knee(rule=rule, names=curve.names, caps=curve.caps, scores=curve.scores,
                normalized=[float(x) for x in curve.norm], variation=variation,
                index=0 if curve.flat else int(index), flat=curve.flat, details=details)


@RULES.register("tv")
def tv_knee(caps: Sequence[int], scores: Sequence[float], names: Sequence[str] | None = None) -> Knee:
    """The paper's total-variation rule (module docstring). ``details["gains"]`` maps k → gain(k)."""
    curve = _prepare(caps, scores, names)
    n, d = len(curve.caps), curve.d
    gains: dict[int, float] = {}
    best_k, best_gain = None, -math.inf
    for k in range(2, n - 2):  # 2 <= k <= n-3
        before = float(np.mean(d[0:k]))  # d_0 .. d_(k-1)
        after = float(np.mean(d[k - 1:n - 1]))  # d_(k-1) .. d_(n-2)
        gains[k] = after - before
        if gains[k] > best_gain:  # strict: the first k wins ties
            best_k, best_gain = k, gains[k]
    return _result("tv", curve, best_k - 1,
                   {"gains": {str(k): g for k, g in gains.items()}, "k": best_k})


@RULES.register("pwl")
def piecewise_knee(caps: Sequence[int], scores: Sequence[float], names: Sequence[str] | None = None) -> Knee:
    """Two-segment piecewise-linear fit (comparison rule, not the default).

    The normalized curve (widest first, x = position) is split at every breakpoint b (1 <= b <= n-2,
    each segment at least 2 points, the breakpoint shared by both); each segment gets its own
    least-squares line and the b with the smallest total squared error wins (first on ties). The plateau
    ends at b, so the pick is position b. Justification: the paper's observation is "plateau, then
    collapse", i.e. two regimes; a two-line fit locates the regime change without tuning thresholds.
    """
    curve = _prepare(caps, scores, names)
    n, norm = len(curve.caps), curve.norm
    x = np.arange(n, dtype=np.float64)

    def sse(lo: int, hi: int) -> float:
        xs, ys = x[lo:hi + 1], norm[lo:hi + 1]
        coef = np.polyfit(xs, ys, 1)
        return float(np.sum((np.polyval(coef, xs) - ys) ** 2))

    errors = {b: sse(0, b) + sse(b, n - 1) for b in range(1, n - 1)}
    best = min(errors, key=lambda b: (errors[b], b))
    return _result("pwl", curve, best, {"sse": {str(b): e for b, e in errors.items()}})



def select_knee(caps: Sequence[int], scores: Sequence[float], names: Sequence[str] | None = None,
                rule: str = "tv") -> Knee:
    """Apply knee rule ``rule`` (``tv`` = the paper's, default; ``pwl`` = two-segment fit)."""
    return RULES.get(rule)(caps, scores, names)
