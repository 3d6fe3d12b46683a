"""The training-free width search: candidate family → Jacobian probe (+ optional proxies) → knee → search.json/png."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xtiny.errors import XTinyError
from xtiny.records.width_search import SearchRecord, write_search_record
from xtiny.sensitivity import DEFAULT_CONFIDENCE
from xtiny.versions import stack_versions

if TYPE_CHECKING:
    import torch

    from xtiny.sensitivity.cache import ScoreCache
    from xtiny.sensitivity.inputs import ProbeInputs, ProbeSource

MACS_NOTE = ("macs: multiply-accumulates of conv, transposed conv and linear ops for one sample at the patch size, "
             "counted by forward hooks at a reduced size and scaled (xtiny.meta_pass.scaled_profile; equal to "
             "torch's FlopCounterMode on a meta-device copy, xtiny.meta_pass.meta_profile); "
             "norms/nonlinearities/additions ignored; flops = 2 * macs.")


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """``3`` → ``[0, 1, 2]``; an explicit sequence is kept (deduplicated, order preserved)."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise XTinyError(f"--seeds must be at least 1 (got {seeds}).", fix="pass e.g. --seeds 3.")
        return list(range(seeds))
    out = list(dict.fromkeys(int(s) for s in seeds))
    if not out:
        raise XTinyError("empty seed list.", fix="pass e.g. --seeds 3.")
    return out




def reduced_patch(patch: Sequence[int], strides: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """Per axis, twice the product of the network's strides (two elements at the deepest stage) when it divides the
    patch size; else the patch size. The size :func:`xtiny.meta_pass.scaled_profile` runs at."""
    out = []
    for axis, size in enumerate(patch):
        total = math.prod(int(s[axis]) for s in strides)
        out.append(2 * total if size % (2 * total) == 0 and 2 * total < size else int(size))
    return tuple(out)


def _candidate_static(dataset_name, name, cap, plans, patch, cache, key_base, network_for) -> dict:
    """Params, MACs, activation bytes per sample and features of one candidate (cached; MACs and activations from
    one shape-only meta-device pass)."""
    from xtiny.meta_pass import count_parameters, scaled_profile
    from xtiny.nnunet.plans import configuration_dict
    from xtiny.sensitivity.cache import cache_key

    arch = configuration_dict(plans, name)["architecture"]["arch_kwargs"]
    key = cache_key(kind="static-v2", **key_base)
    rec = cache.get(key)
    if rec is None:
        net = network_for(None)
        rec = {"params": count_parameters(net),
               **scaled_profile(net, (key_base["in"], *patch), reduced_patch(patch, arch["strides"]))}
        cache.put(key, rec)
    fps = arch["features_per_stage"]
    return {"name": name, "cap": cap, "features_per_stage": fps, "params": rec["params"], "macs": rec["macs"],
            "flops": 2 * rec["macs"], "activation_bytes": rec["activation_bytes"]}


KEPT_WIDEST_DRAWS = 3  # the default seeds: a fixed search draws the widest net once per seed, not per candidate
CHEAP_MACS_SHARE = 1 / 8  # a candidate this much cheaper than the widest may get the narrow seeds


class WidestDraws:
    """The widest candidate's initial weights per seed (the last ``KEPT_WIDEST_DRAWS`` seeds' kept): what
    :func:`nest_initial_weights` slices every narrower candidate from (common random numbers across the family).
    ``key`` names the draw in score caches."""

    def __init__(self, dataset_name: str, widest: str, plans: dict) -> None:
        from xtiny.nnunet.plans import configuration_dict

        self.dataset_name, self.widest = dataset_name, widest
        self.key = {"widest": widest, "arch": configuration_dict(plans, widest)["architecture"]["arch_kwargs"]}
        self._states: dict[int, dict] = {}

    def state(self, seed: int) -> dict:
        """The widest candidate's state dict as nnU-Net initialises it with ``seed`` (the last few seeds' are kept:
        the fixed search probes each candidate with every seed in turn)."""
        from xtiny.nnunet.networks import build_planned_network

        if seed not in self._states:
            while len(self._states) >= KEPT_WIDEST_DRAWS:
                self._states.pop(next(iter(self._states)))
            self._states[seed] = build_planned_network(self.dataset_name, self.widest, seed=seed).state_dict()
        return self._states[seed]


class _Networks:
    """Builds a candidate's network once per seed, on demand (``None`` = any seed, for counting), its InstanceNorms
    swapped for the probe's faster equivalent (:func:`xtiny.sensitivity.probe.swap_instance_norms`). With
    ``widest`` draws, a narrower candidate's initial weights are slices of the widest one's (nested init)."""

    def __init__(self, dataset_name: str, configuration: str, first_seed: int,
                 widest: WidestDraws | None = None) -> None:
        self.dataset_name, self.configuration, self.first_seed = dataset_name, configuration, first_seed
        self.widest = widest if widest is not None and widest.widest != configuration else None
        self.built: dict[int, Any] = {}

    def __call__(self, seed: int | None):
        from xtiny.nnunet.networks import build_planned_network
        from xtiny.sensitivity.nested_init import nest_initial_weights
        from xtiny.sensitivity.probe import swap_instance_norms

        if seed is None:
            seed = self.first_seed
        if seed not in self.built:  # the counting call's network is the first seed's probe network: nested too
            net = build_planned_network(self.dataset_name, self.configuration, deep_supervision=False, seed=seed)
            if self.widest is not None:
                nest_initial_weights(net, self.widest.state(seed))
            self.built[seed] = swap_instance_norms(net)
        return self.built[seed]


def _finite(v: float | None) -> float:
    return float("nan") if v is None else float(v)


@dataclass(frozen=True)
class SearchSettings:
    """How the width search probes: ``k`` (None: every training case; exactly ``k``, default 32, without a
    ``confidence``), ``seeds`` (a count or the seeds), ``device``, the knee ``rule``, the width ``caps`` (None: the
    whole family), extra zero-cost ``proxies`` recorded beside the Jacobian, the stop rule's ``confidence`` (None:
    fixed ``k`` and seeds), the probe's ``chunk_size`` (None: sized to the device), whether scores come from
    the cache (``use_cache``) and whether each narrower candidate's initial weights are slices of the widest one's
    (``nested_init``, :mod:`xtiny.sensitivity.nested_init`) or drawn on their own. With the stop rule and nested
    draws, a cheap candidate (MACs at most :data:`CHEAP_MACS_SHARE` of the widest's) may get up to ``narrow_seeds``
    seeds where the resamples contest the pick; the others get at most ``seeds``."""

    k: int | None = None
    seeds: int | tuple[int, ...] = 3
    device: str = "auto"
    rule: str = "tv"
    caps: tuple[int, ...] | None = None
    proxies: tuple[str, ...] = ()
    confidence: float | None = DEFAULT_CONFIDENCE
    chunk_size: int | None = None
    use_cache: bool = True
    nested_init: bool = True
    narrow_seeds: int = 12

    def __post_init__(self) -> None:  # lists (the CLI's) become tuples: a frozen record of what was asked
        if not isinstance(self.seeds, int):
            object.__setattr__(self, "seeds", tuple(self.seeds))
        if self.caps is not None:
            object.__setattr__(self, "caps", tuple(self.caps))
        object.__setattr__(self, "proxies", tuple(self.proxies))


@dataclass(frozen=True)
class SearchSetup:
    """Everything the scoring step needs: the family in the plans, the probe inputs, the cache and the settings.
    Not changed in place: the stop rule returns a copy with the images and seeds it used."""

    dataset_name: str
    configuration: str
    names: list[str]
    cap_of: dict[str, int]
    plans: dict
    plans_file: Path
    inputs: ProbeInputs | None  # fixed: the K images; sequential: None until the stop rule has used its images
    seeds: list[int]
    proxies: list[str]
    device: torch.device
    cache: ScoreCache
    chunk_size: int | None
    started: float
    inputs_seconds: float = 0.0
    confidence: float | None = None  # None: fixed K and seeds (no stop rule)
    source: ProbeSource | None = None  # sequential: where to read batches from
    order: list[str] | None = None  # sequential: the cases in probe order, cut at the image budget
    widest: WidestDraws | None = None  # nested init: the draws the narrower candidates are sliced from
    narrow_seeds: list[int] | None = None  # sequential, nested: the further seeds cheap candidates may get


def prepare_search(dataset: str | int, configuration: str, settings: SearchSettings) -> SearchSetup:
    """Step 1, candidates: check the settings, list (sequential) or load (fixed) the probe inputs, write the family
    into the plans. ``settings.confidence`` None: exactly ``k`` images (default 32) and every seed; else ``k`` and
    ``seeds`` are the budget of the stop rule (``k`` None: every training case)."""
    from xtiny.devices import resolve_device
    from xtiny.family import add_width_family, family_members
    from xtiny.nnunet.names import resolve_dataset_name
    from xtiny.nnunet.plans import load_plans, plans_path
    from xtiny.paths import ensure_nnunet_env
    from xtiny.sensitivity.cache import ScoreCache, cache_dir
    from xtiny.sensitivity.inputs import load_probe_inputs, probe_source
    from xtiny.sensitivity.knee import RULES
    from xtiny.sensitivity.proxies import PROXIES
    from xtiny.sensitivity.stop_rule import spread_order

    started = time.perf_counter()
    k, confidence = settings.k, settings.confidence
    ensure_nnunet_env(quiet=True)
    name = resolve_dataset_name(dataset)
    RULES.get(settings.rule)  # XTinyError naming the rules
    extra = [p for p in dict.fromkeys(settings.proxies) if p != "jacobian"]
    unknown = [p for p in extra if p not in PROXIES]
    if unknown:
        raise XTinyError(f"unknown proxies: {', '.join(unknown)}.", fix=f"choose from: {', '.join(PROXIES)}.")
    if k is not None and k < 1:
        raise XTinyError(f"-k must be at least 1 (got {k}).", fix="pass e.g. -k 32, or leave it out (every image).")
    if confidence is not None and not 0.0 < confidence <= 1.0:
        raise XTinyError(f"--confidence must be in (0, 1] (got {confidence}).", fix="pass e.g. --confidence 0.95.")
    seed_values = seed_list(settings.seeds)
    if settings.narrow_seeds < 1:
        raise XTinyError(f"--narrow-seeds must be at least 1 (got {settings.narrow_seeds}).",
                         fix="pass e.g. --narrow-seeds 12, or --narrow-seeds 1 for no extra seeds.")
    narrow = [s for s in range(max(seed_values) + 1 + settings.narrow_seeds) if s not in seed_values]
    narrow = narrow[:max(0, settings.narrow_seeds - len(seed_values))] if settings.nested_init and confidence else []
    dev = resolve_device(settings.device)
    # both validate the plans + preprocessed data before any write
    inputs, source, order = None, None, None
    if confidence is None:
        inputs = load_probe_inputs(name, configuration, 32 if k is None else k)
    else:
        source = probe_source(name, configuration)
        order = [source.identifiers[i] for i in spread_order(len(source.identifiers))][:k]
    caps = list(settings.caps) if settings.caps is not None else None
    names = add_width_family(name, configuration, caps)
    plans = load_plans(name)
    cache = ScoreCache(cache_dir(name), enabled=settings.use_cache)
    cap_of = dict(family_members(plans, configuration))
    widest = WidestDraws(name, max(names, key=cap_of.__getitem__), plans) if settings.nested_init else None
    return SearchSetup(name, configuration, names, cap_of, plans, plans_path(name), inputs, seed_values, extra, dev,
                       cache, settings.chunk_size, started, inputs_seconds=time.perf_counter() - started,
                       confidence=confidence, source=source, order=order, widest=widest, narrow_seeds=narrow)


class CandidateProbe:
    """One candidate's probing state: its static costs, cache key and networks, the per-image norms measured so far
    per (seed, batch of case ids), and the probe seconds spent (cache hits cost nothing)."""

    def __init__(self, setup: SearchSetup, candidate: str) -> None:
        from xtiny.nnunet.networks import planned_network_io
        from xtiny.nnunet.plans import configuration_dict

        self.setup, self.name = setup, candidate
        _, _, channels, heads = planned_network_io(setup.dataset_name, candidate)
        self.key_base = {"config": configuration_dict(setup.plans, candidate), "in": channels, "out": heads,
                         "patch": (setup.inputs or setup.source).patch_size}
        self.networks = _Networks(setup.dataset_name, candidate, setup.seeds[0], setup.widest)
        self.entry = _candidate_static(setup.dataset_name, candidate, setup.cap_of[candidate], setup.plans,
                                       self.key_base["patch"], setup.cache, self.key_base, self.networks)
        self.norms: dict[tuple[int, tuple[str, ...]], list[float]] = {}
        self.proxy_scores: dict[str, list] = {p: [] for p in setup.proxies}
        self.seconds, self.units, self.hits = 0.0, 0, 0

    def probe(self, seed: int, inputs, proxy: str = "jacobian") -> dict:
        """One (seed, images, proxy) record, from the cache or measured; Jacobian norms are kept per image."""
        key_base = self.key_base | {"images": inputs.sha1, "case_ids": inputs.case_ids}
        rec, hit = self._score(seed, inputs, proxy, key_base)
        self.seconds += 0.0 if hit else rec["seconds"]
        self.units, self.hits = self.units + 1, self.hits + hit
        if proxy == "jacobian":
            self.norms[(seed, tuple(inputs.case_ids))] = rec["per_image"]
        else:
            self.proxy_scores[proxy].append(rec["score"])
        return rec

    def _score(self, seed: int, inputs, proxy: str, key_base: dict) -> tuple[dict, bool]:
        """One (seed, images, proxy) record ``{"score", "per_image"?, "seconds"}``; returns (record, from_cache)."""
        from xtiny.sensitivity.cache import cache_key
        from xtiny.sensitivity.probe import chunk_size_for, jacobian_norms
        from xtiny.sensitivity.proxies import PROXIES

        device, cache = self.setup.device, self.setup.cache
        init = "independent" if self.setup.widest is None else {"nested": self.setup.widest.key}
        key = cache_key(kind="score", proxy=proxy, seed=seed, device=device.type, init=init, **key_base)
        rec = cache.get(key)
        if rec is not None:
            return rec, True
        t0 = time.perf_counter()
        net = self.networks(seed)
        if proxy == "jacobian":
            chunk = self.setup.chunk_size or chunk_size_for(net, tuple(inputs.images.shape[1:]), device,
                                                            activation_bytes=self.entry["activation_bytes"])
            norms = jacobian_norms(net, inputs.images, device=device, chunk_size=chunk)
            score = float(np.mean(norms))
            rec = {"score": score if math.isfinite(score) else None, "per_image": [float(v) for v in norms]}
        else:
            score = float(PROXIES[proxy](net, inputs.images, device=device))
            rec = {"score": score if math.isfinite(score) else None}
        rec["seconds"] = time.perf_counter() - t0
        cache.put(key, rec)
        return rec, False

    def release(self, seed: int) -> None:
        self.networks.built.pop(seed, None)  # one network alive at a time

    def per_image(self, seed: int, batches: list) -> list[float]:
        """This seed's norms over ``batches`` (lists of case ids), in order."""
        return [v for ids in batches for v in self.norms[(seed, tuple(ids))]]

    def record(self, seeds: list[int], batches: list) -> dict:
        """The candidate's search.json entry: per-seed scores (mean per-image norm over ``batches``) and their spread."""
        per_seed = [_mean_or_none(self.per_image(seed, batches)) for seed in seeds]
        raw = [_finite(v) for v in per_seed]
        mean = float(np.mean(raw))
        std = float(np.std(raw)) if len(raw) > 1 else 0.0
        return self.entry | {
            "scores_per_seed": per_seed,
            "score": mean if math.isfinite(mean) else None,
            "seed_spread": {"std": std, "min": float(np.min(raw)), "max": float(np.max(raw)),
                            "cv": std / abs(mean) if mean and math.isfinite(mean) else None},
            "proxies": {p: {"per_seed": v, "mean": _mean_or_none(v)} for p, v in self.proxy_scores.items()},
            "timings": {"probe_s": self.seconds, "cached": self.hits == self.units},
        }


def score_candidate(setup: SearchSetup, candidate: str, bar) -> dict:
    """Step 2 with fixed K and seeds: one candidate's static costs and its Jacobian (and extra proxy) scores."""
    probe = CandidateProbe(setup, candidate)
    for seed in setup.seeds:
        for proxy in ["jacobian", *setup.proxies]:
            bar.set_postfix_str(f"{candidate} seed {seed} {proxy}")
            probe.probe(seed, setup.inputs, proxy)
            bar.update(1)
        probe.release(seed)
    return probe.record(setup.seeds, [setup.inputs.case_ids]) | {"seeds": list(setup.seeds)}


def score_sequentially(setup: SearchSetup, rule: str, bar) -> tuple[list[dict], dict, SearchSetup]:
    """Step 2 with the stop rule: probe every candidate on the first batch with the first seeds, then add images or
    seeds until the pick's bootstrap agreement reaches ``setup.confidence`` (:mod:`xtiny.sensitivity.stop_rule`).
    With nested draws a seed goes only to the contested candidates, and cheap ones may get the narrow seeds too.
    Returns the candidate entries (each with the seeds it got; ``score`` is the curve the knee used), the ``sampling``
    trail for search.json and a copy of ``setup`` holding the images and the seeds every candidate got."""
    from xtiny.sensitivity.stop_rule import (
        BOOTSTRAP_RESAMPLES,
        SamplingState,
        batch_bounds,
        next_step,
        score_curve,
    )

    bounds = batch_bounds(len(setup.order))
    batches = [setup.order[lo:hi] for lo, hi in bounds]
    loaded: dict[int, Any] = {}
    probes = [CandidateProbe(setup, name) for name in setup.names]
    caps = [setup.cap_of[n] for n in setup.names]
    all_seeds = [*setup.seeds, *(setup.narrow_seeds or [])]
    paired = setup.widest is not None
    limits = narrow_seed_limits([p.entry["macs"] for p in probes], len(setup.seeds), len(all_seeds))
    state = SamplingState.start(limits)
    rounds: list[dict] = []
    while True:
        t0 = time.perf_counter()
        n_batches = state.batches
        todo = [(p, s, b) for p, n in zip(probes, state.seed_counts, strict=True) for s in all_seeds[:n]
                for b in range(n_batches) if (s, tuple(batches[b])) not in p.norms]
        bar.total = (bar.total or 0) + len(todo)
        bar.refresh()
        hits_before = sum(p.hits for p in probes)
        for seed in dict.fromkeys(s for _p, s, _b in todo):  # seed outer: one widest draw per seed
            for probe in probes:
                for b in [b for p, s, b in todo if p is probe and s == seed]:
                    if b not in loaded:
                        loaded[b] = setup.source.read(batches[b])
                    bar.set_postfix_str(f"{probe.name} seed {seed} images {bounds[b][0]}-{bounds[b][1]}")
                    probe.probe(seed, loaded[b])
                    bar.update(1)
                probe.release(seed)
        norms = _ragged_norms(probes, all_seeds, state.seed_counts, batches[:n_batches])
        common = all_seeds[:min(state.seed_counts)]
        verdict = next_step(norms, caps, setup.names, rule, setup.confidence, images_left=n_batches < len(batches),
                            seeds_left=limits if paired else state.seed_counts[0] < len(setup.seeds),
                            paired=paired)
        rounds.append({"images": bounds[n_batches - 1][1], "seeds": common, "pick": verdict.pick,
                       **({"seeds_per_candidate": dict(zip(setup.names, state.seed_counts, strict=True))}
                          if len(set(state.seed_counts)) > 1 else {}),
                       "agreement": verdict.agreement, "agreement_images_only": verdict.agreement_images,
                       "agreement_seeds_only": verdict.agreement_seeds, "probes": len(todo),
                       "cached_probes": sum(p.hits for p in probes) - hits_before,
                       "seconds": time.perf_counter() - t0, "next": verdict.action, "why": verdict.reason})
        if verdict.action == "stop":
            break
        state.advance(verdict)
    n_batches = state.batches
    used = [case for ids in batches[:n_batches] for case in ids]
    max_seeds = len(setup.seeds)
    setup = replace(setup, seeds=all_seeds[:min(state.seed_counts)], inputs=loaded[0] if n_batches == 1 else type(
        loaded[0])(np.concatenate([loaded[b].images for b in range(n_batches)]), used, loaded[0].patch_size,
                   loaded[0].data_folder))  # the batches already read, not read again
    for probe in probes:  # extra proxies: recorded on the images and the seeds every candidate got
        for seed in setup.seeds:
            for proxy in setup.proxies:
                probe.probe(seed, setup.inputs, proxy)
            probe.release(seed)
    sampling = {"mode": "sequential", "confidence": setup.confidence, "max_images": len(setup.order),
                "max_seeds": max_seeds, "images_used": len(used), "seeds_used": len(setup.seeds),
                "bootstrap_resamples": BOOTSTRAP_RESAMPLES, "probe_order": "van der Corput over the sorted cases",
                "rounds": rounds, "stopped_because": rounds[-1]["why"]}
    if setup.narrow_seeds:
        sampling["narrow_seeds"] = {"max": len(all_seeds), "cheap_macs_share": CHEAP_MACS_SHARE,
                                    "cheap": [p.name for p, n in zip(probes, limits, strict=True) if n > max_seeds]}
    curve = score_curve(norms)
    entries = []
    for probe, n, score in zip(probes, state.seed_counts, curve, strict=True):
        entry = probe.record(all_seeds[:n], batches[:n_batches])
        entries.append(entry | {"seeds": all_seeds[:n], "images": len(used), "score": float(score)})
    return entries, sampling, setup


def narrow_seed_limits(macs: Sequence[int], family_seeds: int, narrow_seeds: int) -> list[int]:
    """The most seeds each candidate may get: ``narrow_seeds`` for a cheap one (MACs at most
    :data:`CHEAP_MACS_SHARE` of the widest's), ``family_seeds`` for the others."""
    widest = max(macs)
    return [max(family_seeds, narrow_seeds) if m <= CHEAP_MACS_SHARE * widest else family_seeds for m in macs]


def _ragged_norms(probes: list[CandidateProbe], seeds: list[int], counts: list[int], batches: list) -> np.ndarray:
    """The per-image norms, candidates x seeds x images; NaN for the seeds a candidate did not get."""
    out = np.full((len(probes), max(counts), sum(len(b) for b in batches)), np.nan)
    for c, (probe, n) in enumerate(zip(probes, counts, strict=True)):
        for j, seed in enumerate(seeds[:n]):
            row = np.asarray(probe.per_image(seed, batches), dtype=np.float64)
            if not np.all(np.isfinite(row)):
                raise XTinyError(f"the Jacobian probe of candidate {probe.name} (seed {seed}) gave a non-finite norm; "
                                 "the knee cannot be located.", fix="check the network/inputs for that candidate and "
                                 "rerun.")
            out[c, j] = row
    return out


def choose_width(setup: SearchSetup, candidates: list[dict], rule: str) -> dict:
    """Step 3, knee: the pick by ``rule`` (marked in ``candidates``), and what each other rule and proxy would pick."""
    from xtiny.sensitivity.knee import RULES, select_knee

    caps_list = [c["cap"] for c in candidates]
    scores = [_finite(c["score"]) for c in candidates]
    knee = select_knee(caps_list, scores, setup.names, rule=rule)
    by_proxy = {}  # what each recorded proxy would pick under the same rule (for comparison; never the pick)
    for proxy in setup.proxies:
        means = [_finite(c["proxies"][proxy]["mean"]) for c in candidates]
        by_proxy[proxy] = select_knee(caps_list, means, setup.names, rule=rule).chosen \
            if any(map(math.isfinite, means)) else None
    for i, c in enumerate(candidates):  # names are widest first, like the knee's order
        c["normalized"] = knee.normalized[i]
        c["variation"] = knee.variation[i]
        c["selected"] = i == knee.index
    return {"knee": knee, "picks_by_rule": {r: select_knee(caps_list, scores, setup.names, rule=r).chosen
                                            for r in RULES},
            "picks_by_proxy": by_proxy}


def search_record(setup: SearchSetup, candidates: list[dict], choice: dict, rule: str,
                  sampling: dict) -> SearchRecord:
    """Step 4, record: what search.json holds (without its own paths, which :func:`run_search` adds)."""
    knee = choice["knee"]
    rounds = sampling.get("rounds") or [{}]
    warning = None
    if knee.flat:
        warning = "all sensitivity scores are equal: no knee detectable, the widest candidate is returned."
    elif rounds[-1].get("agreement", 1.0) < sampling.get("confidence", 0.0):
        warning = (f"the pick is not settled: {rounds[-1]['agreement']:.0%} of the bootstrap resamples give "
                   f"{knee.chosen} (confidence {sampling['confidence']}); {rounds[-1]['why']}. Confirm it by "
                   f"training its neighbours (xtiny confirm; xtiny run does by default) before trusting it.")
    return SearchRecord(
        dataset=setup.dataset_name,
        base_configuration=setup.configuration,
        chosen=knee.chosen,
        chosen_cap=knee.chosen_cap,
        rule=rule,
        knee={"index": knee.index, "flat": knee.flat, **knee.details},
        picks_by_rule=choice["picks_by_rule"],
        picks_by_proxy=choice["picks_by_proxy"],
        k=len(setup.inputs.case_ids),
        seeds=setup.seeds,
        device=str(setup.device),
        proxies=setup.proxies,
        sampling=sampling,
        inputs={"case_ids": setup.inputs.case_ids, "patch_size": setup.inputs.patch_size,
                "images_sha1": setup.inputs.sha1, "data_folder": setup.inputs.data_folder,
                "selection": "centre slice/patch, centre crop or zero pad"},
        plans_file=str(setup.plans_file),
        candidates=candidates,
        macs_note=MACS_NOTE,
        timings={"inputs_and_family_s": setup.inputs_seconds, "total_s": time.perf_counter() - setup.started},
        versions=stack_versions(),
        warning=warning,
        init="independent" if setup.widest is None else f"nested in {setup.widest.widest}",
    )


def run_search(dataset: str | int, configuration: str = "2d", settings: SearchSettings | None = None, *,
               progress: bool = True, write: bool = True) -> dict:
    """Run the width search on ``dataset``'s ``configuration`` family with ``settings`` (None: the defaults of
    :class:`SearchSettings`); write search.json/png (unless ``write`` is False); return the result.

    Steps: candidates (:func:`prepare_search`) → scores (:func:`score_sequentially`, or :func:`score_candidate` with
    ``confidence=None``) → knee (:func:`choose_width`) → record and plot (:func:`search_record`,
    :func:`plot_search`). By default the probe stops once the pick's bootstrap agreement reaches ``confidence``;
    ``k`` (default: every training case) and ``seeds`` are then its budget. ``confidence=None`` probes exactly ``k``
    images (default 32) with every seed. ``result["chosen"]`` is the configuration to train (e.g. ``"2d_xtiny8"``).
    Candidates are written into ``nnUNetPlans.json`` (see :func:`xtiny.family.add_width_family`). Scores are cached
    per (plans config, seed, images, device type), so a rerun or an interrupted run resumes instantly.
    """
    from tqdm.auto import tqdm

    from xtiny.artifacts import search_json_path
    from xtiny.console import terminal

    settings = settings or SearchSettings()
    rule, confidence = settings.rule, settings.confidence
    setup = prepare_search(dataset, configuration, settings)
    total = None if confidence is not None else len(setup.names) * len(setup.seeds) * (1 + len(setup.proxies))
    with tqdm(total=total, desc=f"search {setup.dataset_name} {configuration}", unit="probe", disable=not progress,
              file=terminal(errors=True), leave=False, dynamic_ncols=True) as bar:
        if confidence is None:
            candidates = [score_candidate(setup, cand, bar) for cand in setup.names]
            sampling = {"mode": "fixed", "images_used": len(setup.inputs.case_ids), "seeds_used": len(setup.seeds)}
        else:
            candidates, sampling, setup = score_sequentially(setup, rule, bar)
    record = search_record(setup, candidates, choose_width(setup, candidates, rule), rule, sampling)
    if write:
        path = search_json_path(setup.dataset_name, configuration)
        record = replace(record, search_json=str(path), search_png=str(path.with_suffix(".png")))
        write_search_record(path, record)
        plot_search(record.to_json(), path.with_suffix(".png"))
    return record.to_json()


def _mean_or_none(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if len(vals) == len(values) and vals else None


def plot_search(result: dict, png_path: str | Path) -> Path:
    """Normalized sensitivity and its variation vs log-params, the pick marked (matplotlib Agg, atomic write)."""
    from xtiny.plotting import pyplot, save_png

    plt = pyplot()

    cands = result["candidates"]
    params = [c["params"] for c in cands]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(params, [c["normalized"] for c in cands], "o-", color="tab:blue", label="normalized sensitivity")
    var = [(p, c["variation"]) for p, c in zip(params, cands, strict=True) if c["variation"] is not None]
    ax.plot([v[0] for v in var], [v[1] for v in var], "s--", color="tab:orange", label="variation |Δ| (from wider)")
    pick = next(c for c in cands if c["selected"])
    ax.axvline(pick["params"], color="tab:red", lw=1)
    ax.plot([pick["params"]], [pick["normalized"]], "*", ms=16, color="tab:red", label=f"pick: {result['chosen']}")
    for p, c in zip(params, cands, strict=True):
        ax.annotate(str(c["cap"]), (p, c["normalized"]), textcoords="offset points", xytext=(0, 6), fontsize=7,
                    ha="center")
    ax.set_xscale("log")
    ax.set_xlabel("parameters (log)")
    ax.set_ylabel("normalized score / variation")
    ax.set_title(f"{result['dataset']} {result['base_configuration']}: rule {result['rule']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_png(fig, png_path, dpi=110)


def format_table(result: dict) -> str:
    """Plain-text table of the candidates (one line each)."""
    head = f"{'configuration':<18}{'cap':>5}{'params':>12}{'GFLOPs':>9}{'score':>13}{'seed cv':>9}{'norm':>7}{'var':>7}"
    lines = [head, "-" * len(head)]
    for c in result["candidates"]:
        cv = c["seed_spread"]["cv"]
        var = c["variation"]
        lines.append(
            f"{c['name']:<18}{c['cap']:>5}{c['params']:>12,}{c['flops'] / 1e9:>9.3f}{c['score']:>13.5g}"
            f"{'' if cv is None else f'{cv:.3f}':>9}{c['normalized']:>7.3f}{'' if var is None else f'{var:.3f}':>7}"
            f"{'  <= pick' if c['selected'] else ''}"
        )
    if result.get("picks_by_proxy"):
        lines.append("same rule on the other proxies (comparison only): "
                     + ", ".join(f"{p} -> {pick}" for p, pick in result["picks_by_proxy"].items()))
    return "\n".join(lines)

