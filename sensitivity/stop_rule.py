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
* **Seeds where they are cheap** (nested draws): the candidates need not have the same number of seeds. A seed is
  added only to the candidates the resamples contest (from one wider than the widest candidate that at least
  :data:`CONTESTED_SHARE` of the seed resamples pick, down to the narrowest), and a candidate holds at most its own seed limit (:class:`SamplingState`): a narrow candidate is
  cheap to probe, so it may get many more seeds than the wide ones. The norms array then holds NaN for the seeds a
  candidate did not get (seeds are prefixes: candidate c has the first ``n_c``), and the curve is the ratio chain of
  :func:`score_curve`, each adjacent ratio measured on the seeds both candidates share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xtiny.sensitivity import DEFAULT_CONFIDENCE

__all__ = ["DEFAULT_CONFIDENCE", "SamplingState", "next_step", "pick_agreement", "score_curve", "spread_order"]
FIRST_BATCH_IMAGES = 4
FIRST_ROUND_SEEDS = 2
BOOTSTRAP_RESAMPLES = 400
CONTESTED_SHARE = 0.02  # a candidate picked by at least this share of the resamples is contested


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


def seed_counts(norms: np.ndarray) -> np.ndarray:
    """Seeds measured per candidate (``norms``: candidates x seeds x images, NaN where a candidate lacks a seed; the
    seeds a candidate has are a prefix)."""
    return np.sum(~np.isnan(norms[:, :, 0]), axis=1)


def _chain(per_seed: np.ndarray, counts: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
    """The ratio-chain curve of ``per_seed`` (candidates x seeds, NaN-padded): the widest candidate's mean over its
    seeds, then each adjacent ratio as the ratio of the two candidates' means over the seeds both have. ``index``
    (the seeds' resampling positions in [0, 1)) picks ``floor(index[:m] * m)`` of the ``m`` shared seeds."""
    def take(row: np.ndarray, m: int) -> np.ndarray:
        return row[:m] if index is None else row[(index[:m] * m).astype(int)]

    curve = [take(per_seed[0], int(counts[0])).mean()]
    for c in range(len(counts) - 1):
        m = int(min(counts[c], counts[c + 1]))
        curve.append(curve[-1] * take(per_seed[c + 1], m).mean() / take(per_seed[c], m).mean())
    return np.array(curve)


def score_curve(norms: np.ndarray) -> np.ndarray:
    """Each candidate's score (``norms``: candidates x seeds x images). Every candidate with the same seeds: the mean
    over seeds of the mean over images. Ragged seeds (NaN-padded, nested draws): the ratio chain from the widest
    candidate, each adjacent ratio on the seeds the pair shares, so the extra seeds of the narrow candidates sharpen
    their ratios without breaking the pairing with a wider neighbour that has fewer (the knee is scale-free, so only
    the ratios matter)."""
    per_seed = norms.mean(axis=2)
    counts = seed_counts(norms)
    if (counts == counts[0]).all():
        return per_seed[:, :counts[0]].mean(axis=1)
    return _chain(per_seed, counts)


def seed_spread(norms: np.ndarray) -> float:
    """Pooled between-seed coefficient of variation of the candidates' scores (0 with one seed): the root mean over
    candidates of ``var(per-seed means, ddof=1) / mean^2``. Pooled because two or three seeds say little about one
    candidate, and the init-seed spread of the whole family is what an unseen seed may move."""
    per_seed = norms.mean(axis=2)  # candidates x seeds
    counts = seed_counts(norms)
    terms = [per_seed[c, :n].var(ddof=1) / per_seed[c, :n].mean() ** 2 for c, n in enumerate(counts) if n >= 2]
    return float(np.sqrt(np.mean(terms))) if terms else 0.0


def adjacent_log_spread(norms: np.ndarray, prior_weight: float = 2.0) -> np.ndarray:
    """Between-seed std of each adjacent log ratio ``log score[c+1] - log score[c]`` over the seeds the pair shares
    (length candidates - 1; zeros when no pair shares two seeds). Each pair's variance, from few seeds, is shrunk
    toward the pooled variance of its neighbouring pairs (itself and one on each side) with the weight of
    ``prior_weight`` seeds, so that two seeds that happen to agree do not make a pair look noise-free. Pooled locally,
    not over the whole family: with nested draws the wide pairs are nearly noise-free and the narrow ones are not."""
    per_seed = np.log(np.maximum(norms.mean(axis=2), np.finfo(float).tiny))  # candidates x seeds (NaN: missing)
    counts = seed_counts(norms)
    shared = np.minimum(counts[:-1], counts[1:])
    if shared.max() < 2:
        return np.zeros(len(counts) - 1)
    ratios = np.diff(per_seed, axis=0)
    own = np.array([ratios[c, :m].var(ddof=1) if m >= 2 else np.nan for c, m in enumerate(shared)])
    dof = np.maximum(shared - 1, 0)
    filled = np.where(np.isnan(own), 0.0, own)
    pooled = np.empty(len(own))
    for c in range(len(own)):
        lo, hi = max(0, c - 1), min(len(own), c + 2)
        weight = dof[lo:hi].sum()
        pooled[c] = (filled[lo:hi] * dof[lo:hi]).sum() / weight if weight else np.sum(filled * dof) / dof.sum()
    own = np.where(np.isnan(own), pooled, own)
    return np.sqrt((dof * own + prior_weight * pooled) / (dof + prior_weight))


def pick_agreement(norms: np.ndarray, caps: Sequence[int], names: Sequence[str], rule: str, *, resample: str = "both",
                   resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0, paired: bool = False) -> tuple[str, float]:
    """(pick on all of ``norms``, share of bootstrap resamples that give the same pick).

    ``norms``: per-image Jacobian norms, candidates x seeds x images (NaN for the seeds a candidate did not get).
    ``resample``: ``both``, ``images`` or ``seeds``. Images are resampled with replacement. Seeds are resampled with
    replacement (the same positions for every candidate, and within each adjacent pair the seeds it shares) and,
    because a nonparametric bootstrap over two or three seeds cannot show what another seed would do, the curve is
    also moved by a normal draw of the standard error of its seed mean: a smoothed bootstrap. Independent draws
    (``paired`` False): each candidate by the pooled seed spread (:func:`seed_spread`), on its own. Nested draws
    (``paired``): each adjacent log ratio by its own spread (:func:`adjacent_log_spread`) over the root of the seeds
    the pair shares, so the curve moves as a chain from the widest. Deterministic (a fixed generator seed).
    """
    pick, picks = resampled_picks(norms, caps, names, rule, resample=resample, resamples=resamples, seed=seed,
                                  paired=paired)
    return pick, sum(p == pick for p in picks) / resamples


def resampled_picks(norms: np.ndarray, caps: Sequence[int], names: Sequence[str], rule: str, *, resample: str = "both",
                    resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0, paired: bool = False) -> tuple[str, list[str]]:
    """(pick on all of ``norms``, the pick of every bootstrap resample): :func:`pick_agreement`'s resamples."""
    from xtiny.sensitivity.knee import select_knee

    pick = select_knee(caps, score_curve(norms), names, rule=rule).chosen
    n_candidates, n_seeds, n_images = norms.shape
    counts = seed_counts(norms)
    ragged = not (counts == counts[0]).all()
    if ragged and not paired:
        raise ValueError("ragged seeds (NaN-padded norms) need nested draws (paired=True)")
    smooth = resample in ("both", "seeds")
    spread = seed_spread(norms) if smooth and not paired else 0.0
    shared = np.minimum(counts[:-1], counts[1:])
    steps = adjacent_log_spread(norms) / np.sqrt(shared) if smooth and paired else None
    rng = np.random.default_rng(seed)
    picks = []
    for _ in range(resamples):
        positions = rng.random(n_seeds) if smooth else None
        i_idx = rng.integers(0, n_images, n_images) if resample in ("both", "images") else np.arange(n_images)
        per_seed = norms[:, :, i_idx].mean(axis=2)
        curve = _chain(per_seed, counts, positions) if ragged or positions is not None else score_curve(norms[:, :, i_idx])
        if spread:
            curve = curve * (1 + spread / np.sqrt(counts[0]) * rng.standard_normal(n_candidates))
        elif steps is not None and steps.any():
            curve = curve * np.exp(np.concatenate([[0.0], np.cumsum(steps * rng.standard_normal(n_candidates - 1))]))
        picks.append(select_knee(caps, curve, names, rule=rule).chosen)
    return pick, picks


@dataclass
class RoundVerdict:
    """What the last round's measurements say: the pick, its agreements, and what to do next (``add_seed``: one more
    seed for every candidate from ``seed_from`` down to the narrowest, each up to its limit)."""

    pick: str
    agreement: float
    agreement_images: float
    agreement_seeds: float
    action: str  # "stop", "add_images" or "add_seed"
    reason: str
    seed_from: int = 0


def contested_from(picks: Sequence[str], names: Sequence[str], pick: str) -> int:
    """Where extra seeds go: one wider than the widest candidate that at least :data:`CONTESTED_SHARE` of the
    resamples ``picks`` choose (the pick counts always), so that its ratio to a wider neighbour is sharpened too."""
    counts = {n: picks.count(n) for n in set(picks)}
    contested = [names.index(pick)] + [names.index(n) for n, k in counts.items() if k >= CONTESTED_SHARE * len(picks)]
    return max(0, min(contested) - 1)


def next_step(norms: np.ndarray, caps: Sequence[int], names: Sequence[str], rule: str, confidence: float, *,
              images_left: bool, seeds_left: bool | Sequence[int], paired: bool = False) -> RoundVerdict:
    """Stop once the joint bootstrap agreement reaches ``confidence``; otherwise add a seed when the seeds' resampling
    agrees less than the images' (the seed spread dominates), else the next batch of images; stop when both budgets
    are used up, or when every seed is used and the images alone agree (only seeds could settle it then).
    ``paired``: the seeds are nested draws (:func:`pick_agreement`). ``seeds_left``: True or False, whether every
    candidate can get one more seed; or (nested draws only) the most seeds each candidate may get, and a seed then
    goes only to the contested candidates (:func:`contested_from`) that are under their limit."""
    pick, both = pick_agreement(norms, caps, names, rule, paired=paired)
    _p, by_images = pick_agreement(norms, caps, names, rule, resample="images", paired=paired)
    _p, seed_picks = resampled_picks(norms, caps, names, rule, resample="seeds", paired=paired)
    by_seeds = sum(p == pick for p in seed_picks) / len(seed_picks)
    seed_from = 0
    if not isinstance(seeds_left, bool):
        counts, limits = seed_counts(norms), seeds_left
        seed_from = contested_from(seed_picks, names, pick)
        seeds_left = any(counts[c] < limits[c] for c in range(seed_from, len(names)))

    def verdict(action: str, reason: str) -> RoundVerdict:
        return RoundVerdict(pick, both, by_images, by_seeds, action, reason, seed_from)

    where = f" for {names[seed_from]} and narrower" if seed_from else ""
    if both >= confidence:
        return verdict("stop", f"bootstrap agreement {both:.3f} >= confidence {confidence}")
    if not seeds_left and by_images >= confidence:
        return verdict("stop", f"seed-limited: agreement {both:.3f} < confidence {confidence}, but the images agree "
                       f"({by_images:.3f}) and every seed{where} is used (seeds {by_seeds:.3f}); more images cannot "
                       f"settle it, more seeds (--seeds, --narrow-seeds) can")
    if seeds_left and (by_seeds < by_images or not images_left):
        return verdict("add_seed", (f"agreement {both:.3f} < {confidence}; seeds {by_seeds:.3f} <= images "
                                    f"{by_images:.3f}" if images_left else
                                    f"agreement {both:.3f} < {confidence}; every image used") + where)
    if images_left:
        return verdict("add_images", f"agreement {both:.3f} < {confidence}; images {by_images:.3f} < seeds "
                       f"{by_seeds:.3f}" if seeds_left else f"agreement {both:.3f} < {confidence}; every seed used")
    return verdict("stop", f"budget used up (every image and seed) at agreement {both:.3f} < confidence {confidence}")


@dataclass
class SamplingState:
    """The stop rule's position: the image batches used and each candidate's seed count (seeds are prefixes of the
    search's seed list), under per-candidate ``seed_limits``."""

    batches: int
    seed_counts: list[int]
    seed_limits: list[int]

    @classmethod
    def start(cls, seed_limits: Sequence[int]) -> SamplingState:
        """The first round: one batch, :data:`FIRST_ROUND_SEEDS` seeds for every candidate (fewer where limited)."""
        return cls(1, [min(FIRST_ROUND_SEEDS, n) for n in seed_limits], list(seed_limits))

    def advance(self, verdict: RoundVerdict) -> None:
        """Apply ``verdict``: one more batch of images, or one more seed for the candidates from ``seed_from`` down
        that are under their limit."""
        if verdict.action == "add_images":
            self.batches += 1
        elif verdict.action == "add_seed":
            for c in range(verdict.seed_from, len(self.seed_counts)):
                self.seed_counts[c] = min(self.seed_limits[c], self.seed_counts[c] + 1)
