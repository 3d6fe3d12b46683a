"""When is the width pick settled? Probe order, round schedule and the bootstrap agreement of the pick.

The sequential search (``xtiny.search``) probes every candidate on a first small batch of images with a few seeds,
then keeps adding images (or a seed) until the pick's bootstrap agreement reaches the requested confidence.

* **Probe order** (:func:`spread_order`): the dataset's cases, sorted, reordered by the van der Corput sequence so
  that every prefix is spread evenly over the dataset (first, middle, quarters, eighths, ...). A prefix does not
  depend on how many images will be used, so the batches of a short search are the first batches of a long one
  (and their cached scores are reused).
* **Batches** (:func:`batch_bounds`): fixed boundaries in that order, ``[0, 4), [4, 8), [8, 16), [16, 32), ...``
  (doubling), cut at the image budget. One (candidate, seed, batch) is one unit of probing and of caching.
* **Agreement** (:func:`pick_agreement`): resample the measured per-image norms ``norms[candidate, seed, image]``
  (images with replacement, seeds with replacement, the same indices for every candidate, because one image's norms
  are correlated across candidates; seed means smoothed by the seed spread), average, apply the knee rule; the
  agreement is the share of resamples whose pick equals the pick on everything measured. With nested initial
  weights (``paired``: every candidate of one seed sliced from one draw) the smoothing moves the adjacent log
  ratios, each by its own seed spread, so neighbouring candidates move together as their shared draws do. Resampling images only, or seeds only, tells which source of noise
  dominates (:func:`next_step`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xtiny.sensitivity import DEFAULT_CONFIDENCE

__all__ = ["DEFAULT_CONFIDENCE", "next_step", "pick_agreement", "spread_order"]
FIRST_BATCH_IMAGES = 4
FIRST_ROUND_SEEDS = 2
BOOTSTRAP_RESAMPLES = 400


def spread_order(count: int) -> list[int]:
    """Indices ``0 .. count-1`` in van der Corput order: every prefix is spread evenly over the range."""
    order, seen, j = [], set(), 0
    while len(order) < count:
        x, denom, v = 0.0, 1.0, j
        while v:  # base-2 radical inverse of j
            denom *= 2.0
            x += (v & 1) / denom
            v >>= 1
        i = min(count - 1, int(x * count))
        if i not in seen:
            seen.add(i)
            order.append(i)
        j += 1
    return order


def batch_bounds(max_images: int) -> list[tuple[int, int]]:
    """The batches ``[start, stop)`` of the probe order: 4, 4, 8, 16, ... images (doubling), cut at ``max_images``."""
    bounds, start, stop = [], 0, min(FIRST_BATCH_IMAGES, max_images)
    while start < max_images:
        bounds.append((start, stop))
        start, stop = stop, min(max_images, max(2 * stop, stop + FIRST_BATCH_IMAGES))
    return bounds


def score_curve(norms: np.ndarray) -> np.ndarray:
    """Each candidate's score: the mean over seeds of the mean over images (``norms``: candidates x seeds x images)."""
    return norms.mean(axis=2).mean(axis=1)


def seed_spread(norms: np.ndarray) -> float:
    """Pooled between-seed coefficient of variation of the candidates' scores (0 with one seed): the root mean over
    candidates of ``var(per-seed means, ddof=1) / mean^2``. Pooled because two or three seeds say little about one
    candidate, and the init-seed spread of the whole family is what an unseen seed may move."""
    per_seed = norms.mean(axis=2)  # candidates x seeds
    if per_seed.shape[1] < 2:
        return 0.0
    return float(np.sqrt(np.mean(per_seed.var(axis=1, ddof=1) / per_seed.mean(axis=1) ** 2)))


def adjacent_log_spread(norms: np.ndarray, prior_weight: float = 2.0) -> np.ndarray:
    """Between-seed std of each adjacent log ratio ``log score[c+1] - log score[c]`` (length candidates - 1; zeros
    with one seed). Each pair's variance, from few seeds, is shrunk toward the pooled variance of all pairs with the
    weight of ``prior_weight`` seeds, so that two seeds that happen to agree do not make a pair look noise-free."""
    per_seed = np.log(np.maximum(norms.mean(axis=2), np.finfo(float).tiny))  # candidates x seeds
    n_seeds = per_seed.shape[1]
    if n_seeds < 2:
        return np.zeros(per_seed.shape[0] - 1)
    ratios = np.diff(per_seed, axis=0)
    own = ratios.var(axis=1, ddof=1)
    pooled = own.mean()
    return np.sqrt(((n_seeds - 1) * own + prior_weight * pooled) / (n_seeds - 1 + prior_weight))


def pick_agreement(norms: np.ndarray, caps: Sequence[int], names: Sequence[str], rule: str, *, resample: str = "both",
                   resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0, paired: bool = False) -> tuple[str, float]:
    """(pick on all of ``norms``, share of bootstrap resamples that give the same pick).

    ``norms``: per-image Jacobian norms, candidates x seeds x images. ``resample``: ``both``, ``images`` or ``seeds``.
    Images are resampled with replacement. Seeds are resampled with replacement and, because a nonparametric
    bootstrap over two or three seeds cannot show what another seed would do, the curve is also moved by a normal
    draw of the standard error of its seed mean: a smoothed bootstrap. Independent draws (``paired`` False): each
    candidate by the pooled seed spread (:func:`seed_spread`), on its own. Nested draws (``paired``): each adjacent
    log ratio by its own spread (:func:`adjacent_log_spread`), so the curve moves as a chain from the widest.
    Deterministic (a fixed generator seed).
    """
    from xtiny.sensitivity.knee import select_knee

    pick = select_knee(caps, score_curve(norms), names, rule=rule).chosen
    n_candidates, n_seeds, n_images = norms.shape
    smooth = resample in ("both", "seeds")
    spread = seed_spread(norms) if smooth and not paired else 0.0
    steps = adjacent_log_spread(norms) / np.sqrt(n_seeds) if smooth and paired else None
    rng = np.random.default_rng(seed)
    same = 0
    for _ in range(resamples):
        s_idx = rng.integers(0, n_seeds, n_seeds) if smooth else np.arange(n_seeds)
        i_idx = rng.integers(0, n_images, n_images) if resample in ("both", "images") else np.arange(n_images)
        curve = score_curve(norms[:, s_idx][:, :, i_idx])
        if spread:
            curve = curve * (1 + spread / np.sqrt(n_seeds) * rng.standard_normal(n_candidates))
        elif steps is not None and steps.any():
            curve = curve * np.exp(np.concatenate([[0.0], np.cumsum(steps * rng.standard_normal(n_candidates - 1))]))
        if select_knee(caps, curve, names, rule=rule).chosen == pick:
            same += 1
    return pick, same / resamples


@dataclass
class RoundVerdict:
    """What the last round's measurements say: the pick, its agreements, and what to do next."""

    pick: str
    agreement: float
    agreement_images: float
    agreement_seeds: float
    action: str  # "stop", "add_images" or "add_seed"
    reason: str


def next_step(norms: np.ndarray, caps: Sequence[int], names: Sequence[str], rule: str, confidence: float, *,
              images_left: bool, seeds_left: bool, paired: bool = False) -> RoundVerdict:
    """Stop once the joint bootstrap agreement reaches ``confidence``; otherwise add a seed when the seeds' resampling
    agrees less than the images' (the seed spread dominates), else the next batch of images; stop when both budgets
    are used up, or when every seed is used and the images alone agree (only seeds could settle it then).
    ``paired``: the seeds are nested draws (:func:`pick_agreement`)."""
    pick, both = pick_agreement(norms, caps, names, rule, paired=paired)
    _p, by_images = pick_agreement(norms, caps, names, rule, resample="images", paired=paired)
    _p, by_seeds = pick_agreement(norms, caps, names, rule, resample="seeds", paired=paired)

    def verdict(action: str, reason: str) -> RoundVerdict:
        return RoundVerdict(pick, both, by_images, by_seeds, action, reason)

    if both >= confidence:
        return verdict("stop", f"bootstrap agreement {both:.3f} >= confidence {confidence}")
    if not seeds_left and by_images >= confidence:
        return verdict("stop", f"seed-limited: agreement {both:.3f} < confidence {confidence}, but the images agree "
                       f"({by_images:.3f}) and every seed is used (seeds {by_seeds:.3f}); more images cannot settle "
                       f"it, more seeds (--seeds) can")
    if seeds_left and (by_seeds < by_images or not images_left):
        return verdict("add_seed", f"agreement {both:.3f} < {confidence}; seeds {by_seeds:.3f} <= images {by_images:.3f}"
                       if images_left else f"agreement {both:.3f} < {confidence}; every image used")
    if images_left:
        return verdict("add_images", f"agreement {both:.3f} < {confidence}; images {by_images:.3f} < seeds "
                       f"{by_seeds:.3f}" if seeds_left else f"agreement {both:.3f} < {confidence}; every seed used")
    return verdict("stop", f"budget used up (every image and seed) at agreement {both:.3f} < confidence {confidence}")
