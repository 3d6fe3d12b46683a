"""The probe's stop rule on synthetic norm arrays: probe order, batches, bootstrap agreement and the next step."""

import numpy as np
import pytest

from xtiny.sensitivity.knee import select_knee
from xtiny.sensitivity.stop_rule import batch_bounds, next_step, pick_agreement, spread_order

CAPS = [512, 256, 128, 64, 32, 16, 8, 4, 2, 1]
NAMES = [f"2d_xtiny{c}" for c in CAPS]
CURVE = np.array([1.0, 1.0, 0.99, 0.98, 0.97, 0.9, 0.6, 0.3, 0.2, 0.15])  # plateau, then collapse


def test_spread_order_is_a_permutation_whose_prefixes_spread_over_the_range():
    for n in (1, 2, 5, 60, 301):
        order = spread_order(n)
        assert sorted(order) == list(range(n))
    order = spread_order(60)
    assert order[:4] == [0, 30, 15, 45]
    # a prefix of 8 is an even grid over the 60 cases (step 7.5)
    assert set(np.diff(sorted(order[:8]))) <= {7, 8}


def test_batches_double_and_stop_at_the_budget():
    assert batch_bounds(60) == [(0, 4), (4, 8), (8, 16), (16, 32), (32, 60)]
    assert batch_bounds(3) == [(0, 3)]
    assert batch_bounds(9) == [(0, 4), (4, 8), (8, 9)]


def _norms(image_noise: float, seed_noise: float, seeds: int, images: int, rng_seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(rng_seed)
    per_seed = 1 + seed_noise * rng.standard_normal((len(CAPS), seeds, 1))
    per_image = 1 + image_noise * rng.standard_normal((len(CAPS), 1, images))
    return CURVE[:, None, None] * per_seed * per_image


def test_a_clean_curve_is_settled_at_once():
    norms = _norms(0.001, 0.001, 2, 4)
    pick, agreement = pick_agreement(norms, CAPS, NAMES, "tv")
    assert pick == select_knee(CAPS, CURVE, NAMES).chosen
    assert agreement == 1.0
    verdict = next_step(norms, CAPS, NAMES, "tv", 0.95, images_left=True, seeds_left=True)
    assert verdict.action == "stop" and "agreement 1.000" in verdict.reason


def test_noisy_images_ask_for_images_and_noisy_seeds_for_a_seed():
    by_images = next_step(_norms(0.4, 0.0, 2, 4), CAPS, NAMES, "tv", 0.95, images_left=True, seeds_left=True)
    assert by_images.agreement < 0.95 and by_images.action == "add_images"
    assert by_images.agreement_images < by_images.agreement_seeds
    by_seeds = next_step(_norms(0.0, 0.4, 2, 4, rng_seed=3), CAPS, NAMES, "tv", 0.95, images_left=True,
                         seeds_left=True)
    assert by_seeds.agreement < 0.95 and by_seeds.action == "add_seed"


def test_the_rule_stops_when_the_budget_is_used_up():
    norms = _norms(0.4, 0.0, 2, 4)
    verdict = next_step(norms, CAPS, NAMES, "tv", 0.95, images_left=False, seeds_left=False)
    assert verdict.action == "stop" and "budget used up" in verdict.reason
    only_seeds = next_step(norms, CAPS, NAMES, "tv", 0.95, images_left=False, seeds_left=True)
    assert only_seeds.action == "add_seed"


def test_seed_noise_the_images_cannot_settle_stops_the_search_once_every_seed_is_used():
    noisy_seeds = _norms(0.0, 0.4, 3, 8, rng_seed=3)
    verdict = next_step(noisy_seeds, CAPS, NAMES, "tv", 0.95, images_left=True, seeds_left=False)
    assert verdict.agreement < 0.95 <= verdict.agreement_images
    assert verdict.action == "stop" and verdict.reason.startswith("seed-limited")


def test_two_agreeing_seeds_do_not_hide_the_seed_spread():
    # both seeds give the same pick, but their scores differ a lot: a third seed could move it
    norms = _norms(0.0, 0.3, 2, 4, rng_seed=0)
    assert len({select_knee(CAPS, norms[:, s].mean(axis=1), NAMES).chosen for s in range(2)}) == 1
    assert pick_agreement(norms, CAPS, NAMES, "tv", resample="seeds")[1] < 0.95


def test_agreement_is_deterministic_and_grows_with_more_images():
    small, large = _norms(0.25, 0.0, 1, 4, rng_seed=7), _norms(0.25, 0.0, 1, 64, rng_seed=7)
    assert pick_agreement(small, CAPS, NAMES, "tv") == pick_agreement(small, CAPS, NAMES, "tv")
    assert pick_agreement(large, CAPS, NAMES, "tv")[1] > pick_agreement(small, CAPS, NAMES, "tv")[1]


@pytest.mark.parametrize("resample", ["images", "seeds"])
def test_one_sided_resampling_ignores_the_other_source(resample):
    norms = _norms(0.0, 0.0, 1, 1)
    assert pick_agreement(norms, CAPS, NAMES, "tv", resample=resample)[1] == 1.0


def test_nested_draws_move_together_so_the_paired_bootstrap_settles_what_the_unpaired_cannot():
    """Seed noise shared by every candidate (what nested initial weights give): the seed moves the whole curve, not
    its shape. The unpaired smoothing treats it as each candidate's own noise and cannot settle; the paired one,
    which moves the adjacent log ratios by their own (near zero) spread, settles at once."""
    rng = np.random.default_rng(4)
    shared = np.exp(0.4 * rng.standard_normal((1, 3, 1)))  # one factor per seed, the same for every candidate
    norms = CURVE[:, None, None] * shared * (1 + 0.002 * rng.standard_normal((len(CAPS), 3, 4)))
    _pick, unpaired = pick_agreement(norms, CAPS, NAMES, "tv")
    pick, paired = pick_agreement(norms, CAPS, NAMES, "tv", paired=True)
    assert pick == select_knee(CAPS, CURVE, NAMES).chosen
    assert paired == 1.0 and unpaired < 0.95
    noisy_narrow = norms.copy()  # narrow candidates with their own seed noise stay unsettled even when paired
    noisy_narrow[5:] *= np.exp(0.5 * rng.standard_normal((5, 3, 1)))
    _pick, agreement = pick_agreement(noisy_narrow, CAPS, NAMES, "tv", paired=True)
    assert agreement < 0.95


def _nested(seeds: int, narrow_noise: float, rng_seed: int) -> np.ndarray:
    """Nested-draw norms: one factor per seed shared by the whole curve, plus each narrow candidate's own noise."""
    rng = np.random.default_rng(rng_seed)
    shared = np.exp(0.4 * rng.standard_normal((1, seeds, 1)))
    own = np.ones((len(CAPS), seeds, 1))
    own[5:] = np.exp(narrow_noise * rng.standard_normal((5, seeds, 1)))
    return CURVE[:, None, None] * shared * own * (1 + 0.002 * rng.standard_normal((len(CAPS), seeds, 4)))


def _ragged(norms: np.ndarray, counts: list[int]) -> np.ndarray:
    out = norms.copy()
    for c, n in enumerate(counts):
        out[c, n:] = np.nan
    return out


def test_ragged_seeds_are_chained_over_the_seeds_each_pair_shares():
    from xtiny.sensitivity.stop_rule import score_curve, seed_counts

    norms = _nested(8, 0.0, rng_seed=2)
    assert np.allclose(score_curve(norms), norms.mean(axis=2).mean(axis=1))  # same seeds: the plain means
    ragged = _ragged(norms, [2] * 5 + [8] * 5)
    assert list(seed_counts(ragged)) == [2] * 5 + [8] * 5
    chained = score_curve(ragged)
    assert np.allclose(chained / chained[0], CURVE / CURVE[0], rtol=0.01)  # the shared seed factor cancels
    naive = np.nanmean(ragged.mean(axis=2), axis=1)  # each candidate's own seeds: the factor does not cancel
    assert not np.allclose(naive / naive[0], CURVE / CURVE[0], rtol=0.05)
    with pytest.raises(ValueError, match="nested draws"):
        pick_agreement(ragged, CAPS, NAMES, "tv")


def test_seeds_go_to_the_contested_narrow_candidates_until_the_pick_settles():
    """Noise only at the narrow end (what nested draws leave): the stop rule adds seeds there, never to the wide
    candidates beyond their limit, and reaches the true knee; where it settles, it settles before the narrow limit."""
    from xtiny.sensitivity.stop_rule import SamplingState

    limits = [3] * 4 + [12] * 6
    truth, settled = select_knee(CAPS, CURVE, NAMES).chosen, []
    for rng_seed in range(6):
        norms, state = _nested(12, 0.1, rng_seed=rng_seed), SamplingState.start(limits)
        for _ in range(20):
            verdict = next_step(_ragged(norms, state.seed_counts), CAPS, NAMES, "tv", 0.95, images_left=False,
                                seeds_left=limits, paired=True)
            if verdict.action == "stop":
                break
            assert verdict.action == "add_seed" and verdict.seed_from >= 1
            before = list(state.seed_counts)
            state.advance(verdict)
            assert state.seed_counts[:verdict.seed_from] == before[:verdict.seed_from]
            assert state.seed_counts[verdict.seed_from:] == [
                min(n + 1, lim) for n, lim in zip(before[verdict.seed_from:], limits[verdict.seed_from:], strict=True)]
        assert verdict.action == "stop" and verdict.pick == truth
        assert state.seed_counts[0] == 2 and max(state.seed_counts[:4]) <= 3
        if verdict.agreement >= 0.95:
            settled.append(max(state.seed_counts))
    assert settled and min(settled) < 12
