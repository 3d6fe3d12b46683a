"""Benchmark: nested initial weights (common random numbers) against independent draws, in one run.

    .venv/bin/python bench/bench_nested_init.py [--budget small] [--datasets bus cardiac ...] [--seeds 20]
        [--max-images 40] [--reruns 20] [--draws nested independent]

On the selection bench's datasets (``bench_selection.py``'s ``prepare_dataset``, same work folder), per dataset and
per draw (nested, then independent), in one process:

1. Every candidate on the first ``--max-images`` images of the probe order with every one of ``--seeds`` seeds (each
   unit timed; cached, so a rerun of the bench probes nothing): the norm tensor ``norms[candidate, seed, image]``
   and the reference pick of that ``seeds``-seed K=all search.
2. The seed noise: each candidate's seed CV (std over seeds of its per-seed score / mean) and the between-seed std
   of each adjacent log ratio ``log score[c+1] - log score[c]``, the quantity the knee is decided on.
3. ``--reruns`` reruns of the default search with other seeds (nested draws): the stop rule as shipped, replayed
   on the tensor with the shipped image order and the pool's seeds in another random order each time, 3 seeds for
   every candidate and up to 12 on the cheap ones where the pick is contested. Reported: the share of reruns whose
   pick is the reference, the images and seeds per candidate they used, and their probe seconds (estimated from
   the units' timings). For comparison, the same stop rule with 3 seeds for all (nested and independent draws).
4. Single seeds on every image: the share of seeds whose pick alone is the reference.

Writes ``bench/results/nested_init_<budget>_<device>.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

RERUN_SEEDS = 3
NARROW_SEEDS = 12  # the search's default --narrow-seeds


def norm_tensor(name: str, base: str, device: str, seeds: int, max_images: int, nested: bool):
    """(caps, names, norms[c, s, i], probe seconds spent now, MACs, probe seconds per seed and image, 0 when
    cached) on the first ``max_images`` of the probe order."""
    import numpy as np

    from xtiny.search import CandidateProbe, SearchSettings, prepare_search
    from xtiny.sensitivity.stop_rule import batch_bounds

    setup = prepare_search(name, base, SearchSettings(k=max_images, seeds=seeds, device=device, confidence=0.95,
                                                      nested_init=nested))
    batches = [setup.order[lo:hi] for lo, hi in batch_bounds(len(setup.order))]
    probes = [CandidateProbe(setup, n) for n in setup.names]
    for ids in batches:
        inputs = setup.source.read(ids)
        for seed in setup.seeds:  # one widest draw per seed, every candidate sliced from it
            for probe in probes:
                probe.probe(seed, inputs)
                probe.release(seed)
    norms = np.array([[p.per_image(s, batches) for s in setup.seeds] for p in probes], dtype=np.float64)
    unit_s = [p.seconds / (len(setup.seeds) * norms.shape[2]) for p in probes]  # per seed and image (0: cached)
    return ([setup.cap_of[n] for n in setup.names], setup.names, norms, sum(p.seconds for p in probes),
            [p.entry["macs"] for p in probes], unit_s)


def seed_noise(norms) -> dict:
    """Seed CV of each candidate's score and between-seed std of each adjacent log ratio (widest first)."""
    import numpy as np

    per_seed = norms.mean(axis=2)
    cv = per_seed.std(axis=1, ddof=1) / per_seed.mean(axis=1)
    adjacent = np.diff(np.log(per_seed), axis=0).std(axis=1, ddof=1)
    return {"score_cv": [round(float(v), 4) for v in cv], "adjacent_log_ratio_sd": [round(float(v), 4)
                                                                                   for v in adjacent]}


def reruns(norms, caps, names, reference: str, count: int, paired: bool) -> dict:
    """The default search rerun ``count`` times with other seeds (replayed on ``norms``): agreement with
    ``reference`` and the images x seeds used."""
    import numpy as np
    from bench_stop_rule import replay

    rng = np.random.default_rng(1)
    order = list(range(norms.shape[2]))
    runs = []
    for _ in range(count):
        chosen = rng.choice(norms.shape[1], RERUN_SEEDS, replace=False)
        runs.append(replay(norms[:, chosen], caps, names, order, 0.95, paired=paired))
    return {"agreement": sum(r["pick"] == reference for r in runs) / count,
            "picks": [r["pick"] for r in runs],
            "mean_images": float(np.mean([r["images"] for r in runs])),
            "mean_seeds": float(np.mean([r["seeds"] for r in runs]))}


def ragged_reruns(norms, caps, names, reference: str, count: int, limits: list[int], unit_s: list[float]) -> dict:
    """The default search (nested draws, a seed only where the pick is contested, up to ``limits`` per candidate)
    rerun ``count`` times with other seeds: each rerun takes the pool's seeds in its own random order, every
    candidate a prefix of it (so the draws stay nested). Agreement with ``reference``, images, seeds per candidate,
    and the probe seconds each rerun would take (from the units' timings, when they were probed in this run)."""
    import numpy as np
    from bench_stop_rule import replay

    rng = np.random.default_rng(2)
    order = list(range(norms.shape[2]))
    runs = []
    for _ in range(count):
        chosen = rng.permutation(norms.shape[1])[:max(limits)]
        runs.append(replay(norms[:, chosen], caps, names, order, 0.95, seed_limits=limits))
    seconds = [r["images"] * sum(n * u for n, u in zip(r["seed_counts"], unit_s, strict=True)) for r in runs]
    return {"agreement": sum(r["pick"] == reference for r in runs) / count,
            "picks": [r["pick"] for r in runs],
            "mean_images": float(np.mean([r["images"] for r in runs])),
            "mean_seeds_per_candidate": [round(float(v), 2) for v in np.mean([r["seed_counts"] for r in runs], axis=0)],
            "mean_probe_s_est": round(float(np.mean(seconds)), 2) if any(unit_s) else None,
            "k_all_probe_s_est": round(float(norms.shape[1] * norms.shape[2] * sum(unit_s)), 2) if any(unit_s) else None}


def measure(label: str, budget: dict, work: Path, args) -> dict:
    from bench_selection import DATASETS, prepare_dataset

    from xtiny.sensitivity.knee import select_knee
    from xtiny.sensitivity.stop_rule import score_curve

    base = DATASETS[label][2]
    name = prepare_dataset(label, budget, work)
    out = {"dataset": label, "name": name}
    from xtiny.search import narrow_seed_limits
    from xtiny.sensitivity.stop_rule import pick_agreement

    for mode in args.draws:
        t0 = time.perf_counter()
        caps, names, norms, probe_s, macs, unit_s = norm_tensor(name, base, args.device, args.seeds,
                                                                args.max_images, mode == "nested")
        reference = select_knee(caps, score_curve(norms), names, rule="tv").chosen
        singles = [select_knee(caps, score_curve(norms[:, [s]]), names, rule="tv").chosen
                   for s in range(norms.shape[1])]
        out[mode] = {"reference": reference, "images": norms.shape[2], "seeds": norms.shape[1],
                     "reference_agreement": pick_agreement(norms, caps, names, "tv", paired=mode == "nested")[1],
                     "probe_s": round(probe_s, 1), "wall_s": round(time.perf_counter() - t0, 1),
                     **seed_noise(norms),
                     "single_seed_agreement": sum(p == reference for p in singles) / len(singles),
                     "reruns": reruns(norms, caps, names, reference, args.reruns, mode == "nested")}
        if mode == "nested":
            limits = narrow_seed_limits(macs, RERUN_SEEDS, min(NARROW_SEEDS, args.seeds))
            out[mode]["seed_limits"] = limits
            out[mode]["ragged_reruns"] = ragged_reruns(norms, caps, names, reference, args.reruns, limits, unit_s)
            print(f"{label} nested, narrow seeds: reruns agree {out[mode]['ragged_reruns']['agreement']:.0%} "
                  f"(seeds {out[mode]['ragged_reruns']['mean_seeds_per_candidate']})", flush=True)
        print(f"{label} {mode}: {args.seeds}-seed K=all pick {reference}; reruns agree "
              f"{out[mode]['reruns']['agreement']:.0%}; single seeds {out[mode]['single_seed_agreement']:.0%}; "
              f"adjacent sd {out[mode]['adjacent_log_ratio_sd']}", flush=True)
    out["caps"] = caps
    return out


def main() -> int:
    from bench_selection import BUDGETS
    from bench_stop_rule import selection_data_parser

    ap = selection_data_parser(__doc__)
    ap.add_argument("--seeds", type=int, default=20, help="seeds of the reference search, per draw")
    ap.add_argument("--max-images", type=int, default=40, help="the first N images of the probe order")
    ap.add_argument("--reruns", type=int, default=20, help="reruns of the default search with other seeds")
    ap.add_argument("--draws", nargs="+", default=["nested", "independent"], choices=["nested", "independent"],
                    help="the initial draws to measure (default both)")
    args = ap.parse_args()
    from common import load_average

    work = Path(args.work or f"/tmp/xtiny-bench-selection-{args.budget}")
    load_start, started, out = load_average(), time.perf_counter(), []
    for label in args.datasets:  # written after every dataset: a cut run keeps what it finished
        out.append(measure(label, BUDGETS[args.budget], work, args))
        path = write_nested_result(out, args, load_start, started)
    print(f"wrote {path}")
    return 0


def write_nested_result(out: list[dict], args, load_start: float, started: float) -> Path:
    """The table and notes of the datasets measured so far, as the bench's JSON."""
    from common import device_tag, load_average, write_result

    rows = []
    blank = {"reference": "-", "reruns": None, "single_seed_agreement": None, "adjacent_log_ratio_sd": []}
    for r in out:
        nested, independent = r.get("nested", blank), r.get("independent", blank)
        ragged = nested.get("ragged_reruns")
        rows.append([r["dataset"], f"{args.max_images} x {args.seeds}",
                     f"{nested['reference']} ({_share(nested.get('reference_agreement'))})", independent["reference"],
                     _share(ragged and ragged["agreement"]), _share(nested["reruns"] and nested["reruns"]["agreement"]),
                     _share(independent["reruns"] and independent["reruns"]["agreement"]),
                     _share(nested["single_seed_agreement"]), _share(independent["single_seed_agreement"]),
                     f"{ragged['mean_images']:.0f} x " + "/".join(f"{v:.1f}" for v in ragged["mean_seeds_per_candidate"])
                     if ragged else "-",
                     f"{ragged['mean_probe_s_est']} / {ragged['k_all_probe_s_est']}"
                     if ragged and ragged["mean_probe_s_est"] is not None else "-",
                     " / ".join(f"{v:.2f}" for v in nested["adjacent_log_ratio_sd"]) or "-",
                     " / ".join(f"{v:.2f}" for v in independent["adjacent_log_ratio_sd"]) or "-"])
    differ = [r["dataset"] for r in out if "independent" in r and r["nested"]["reference"] != r["independent"]["reference"]]
    reached = [r["dataset"] for r in out if r["nested"].get("ragged_reruns", {}).get("agreement", 0) >= 0.95]
    notes = [f"Reference: the pick of a {args.seeds}-seed search on the first {args.max_images} images of the probe "
             "order (every image where a dataset has fewer), per draw, every candidate with every seed.",
             f"Default search reruns: the stop rule as shipped (confidence 0.95, nested draws, {RERUN_SEEDS} seeds "
             f"for every candidate, up to {NARROW_SEEDS} on the cheap ones where the bootstrap contests the pick) "
             f"replayed on that tensor, each rerun taking the {args.seeds} seeds in its own random order (every "
             f"candidate a prefix of it), {args.reruns} reruns. The reruns' seeds come from the reference's pool, so "
             "they are not independent of it: with 12 of 20 seeds a rerun shares most of the reference's draws on the "
             "cheap candidates.",
             f"3-seed reruns: the same stop rule with at most {RERUN_SEEDS} seeds for every candidate (no narrow seeds),"
             f" {RERUN_SEEDS} seeds drawn from the pool each time; nested draws use the paired bootstrap.",
             f"Default search reruns reach the reference in >= 95 % on {len(reached)} of {len(out)} datasets"
             + (f" ({', '.join(reached)})." if reached else "."),
             "The nested and the independent reference picks differ on: " + (", ".join(differ) or "none") + ".",
             "The reference's bootstrap agreement (the stop rule's paired bootstrap on the whole reference tensor) "
             "bounds what reruns can reach: a reference that is not settled itself is a moving target.",
             "Rerun images x seeds: mean images, then the mean seeds per candidate, widest first. Probe s: the mean "
             "probe seconds of a default rerun against the reference's, estimated from each candidate's unit timings "
             "in this run ('-' when the units came from the score cache).",
             "Adjacent log-ratio sd: the between-seed std of log(score[c+1] / score[c]), widest pair first "
             f"(caps {out[0]['caps'] if out else []}).",
             f"Wall {time.perf_counter() - started:.0f} s in all; load average {load_start:.2f} at start, "
             f"{load_average():.2f} at end."]
    tag = device_tag(args.device)
    path = write_result(f"nested_init_{args.budget}_{tag}", f"Nested vs independent initial draws ({args.budget}, {tag})",
                        ["dataset", "images x seeds", "nested ref pick (its bootstrap agreement)",
                         "independent ref pick",
                         "default reruns = ref (nested, narrow seeds)", "3-seed reruns = ref (nested)",
                         "3-seed reruns = ref (indep.)", "1 seed = ref (nested)", "1 seed = ref (indep.)",
                         "default rerun images x seeds per candidate", "probe s: default rerun / reference",
                         "adjacent log-ratio sd (nested)", "(independent)"], rows,
                        notes=notes, datasets=out, budget=args.budget, seeds=args.seeds,
                        max_images=args.max_images, reruns=args.reruns)
    return path


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


if __name__ == "__main__":
    sys.exit(main())
