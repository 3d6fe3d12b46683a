"""Benchmark: nested initial weights (common random numbers) against independent draws, in one run.

    .venv/bin/python bench/bench_nested_init.py [--budget small] [--datasets bus cardiac ...] [--seeds 20]
        [--max-images 40] [--reruns 20]

On the selection bench's datasets (``bench_selection.py``'s ``prepare_dataset``, same work folder), per dataset and
per draw (nested, then independent), in one process:

1. Every candidate on the first ``--max-images`` images of the probe order with every one of ``--seeds`` seeds (each
   unit timed; cached, so a rerun of the bench probes nothing): the norm tensor ``norms[candidate, seed, image]``
   and the reference pick of that ``seeds``-seed K=all search.
2. The seed noise: each candidate's seed CV (std over seeds of its per-seed score / mean) and the between-seed std
   of each adjacent log ratio ``log score[c+1] - log score[c]``, the quantity the knee is decided on.
3. ``--reruns`` reruns of the default search with other seeds: the stop rule replayed on the tensor with 3 seeds
   drawn from the ``seeds`` (other seeds each rerun) and the shipped image order, with the paired bootstrap for
   nested draws. Reported: the share of reruns whose pick is the reference, and the images x seeds they used.
4. Single seeds on every image: the share of seeds whose pick alone is the reference.

Writes ``bench/results/nested_init_<budget>_<device>.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

RERUN_SEEDS = 3


def norm_tensor(name: str, base: str, device: str, seeds: int, max_images: int, nested: bool):
    """(caps, names, norms[c, s, i], probe seconds spent now) on the first ``max_images`` of the probe order."""
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
    return [setup.cap_of[n] for n in setup.names], setup.names, norms, sum(p.seconds for p in probes)


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


def measure(label: str, budget: dict, work: Path, args) -> dict:
    from bench_selection import DATASETS, prepare_dataset

    from xtiny.sensitivity.knee import select_knee
    from xtiny.sensitivity.stop_rule import score_curve

    base = DATASETS[label][2]
    name = prepare_dataset(label, budget, work)
    out = {"dataset": label, "name": name}
    for mode in ("nested", "independent"):
        t0 = time.perf_counter()
        caps, names, norms, probe_s = norm_tensor(name, base, args.device, args.seeds, args.max_images,
                                                  mode == "nested")
        reference = select_knee(caps, score_curve(norms), names, rule="tv").chosen
        singles = [select_knee(caps, score_curve(norms[:, [s]]), names, rule="tv").chosen
                   for s in range(norms.shape[1])]
        out[mode] = {"reference": reference, "images": norms.shape[2], "seeds": norms.shape[1],
                     "probe_s": round(probe_s, 1), "wall_s": round(time.perf_counter() - t0, 1),
                     **seed_noise(norms),
                     "single_seed_agreement": sum(p == reference for p in singles) / len(singles),
                     "reruns": reruns(norms, caps, names, reference, args.reruns, mode == "nested")}
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
    args = ap.parse_args()
    from common import device_tag, load_average, write_result

    work = Path(args.work or f"/tmp/xtiny-bench-selection-{args.budget}")
    load_start, started, out = load_average(), time.perf_counter(), []
    for label in args.datasets:
        out.append(measure(label, BUDGETS[args.budget], work, args))
    rows = []
    for r in out:
        nested, independent = r["nested"], r["independent"]
        rows.append([r["dataset"], f"{nested['images']} x {nested['seeds']}", nested["reference"],
                     independent["reference"], f"{nested['reruns']['agreement']:.0%}",
                     f"{independent['reruns']['agreement']:.0%}", f"{nested['single_seed_agreement']:.0%}",
                     f"{independent['single_seed_agreement']:.0%}",
                     f"{nested['reruns']['mean_images']:.0f} x {nested['reruns']['mean_seeds']:.1f}",
                     f"{independent['reruns']['mean_images']:.0f} x {independent['reruns']['mean_seeds']:.1f}",
                     " / ".join(f"{v:.2f}" for v in nested["adjacent_log_ratio_sd"]),
                     " / ".join(f"{v:.2f}" for v in independent["adjacent_log_ratio_sd"])])
    differ = [r["dataset"] for r in out if r["nested"]["reference"] != r["independent"]["reference"]]
    reached = [r["dataset"] for r in out if r["nested"]["reruns"]["agreement"] >= 0.95]
    notes = [f"Reference: the pick of a {args.seeds}-seed search on the first {args.max_images} images of the probe "
             "order (every image where a dataset has fewer), per draw. Reruns: the default stop rule (confidence "
             f"0.95, at most {RERUN_SEEDS} seeds) replayed on that tensor with {RERUN_SEEDS} other seeds drawn from "
             f"the {args.seeds} each time, {args.reruns} reruns; nested draws use the paired bootstrap.",
             f"Nested reruns reach their reference in >= 95 % on {len(reached)} of {len(out)} datasets"
             + (f" ({', '.join(reached)})." if reached else "."),
             "The nested and the independent reference picks differ on: " + (", ".join(differ) or "none") + ".",
             "Adjacent log-ratio sd: the between-seed std of log(score[c+1] / score[c]), widest pair first "
             f"(caps {out[0]['caps'] if out else []}).",
             "probe_s and wall_s count this process only: units probed by an earlier run of the bench come from the "
             "score cache at no cost (these figures are for agreement and noise, not speed).",
             f"Wall {time.perf_counter() - started:.0f} s in all; load average {load_start:.2f} at start, "
             f"{load_average():.2f} at end."]
    tag = device_tag(args.device)
    path = write_result(f"nested_init_{args.budget}_{tag}", f"Nested vs independent initial draws ({args.budget}, {tag})",
                        ["dataset", "images x seeds", "nested ref pick", "independent ref pick",
                         "reruns = ref (nested)", "reruns = ref (indep.)", "1 seed = ref (nested)",
                         "1 seed = ref (indep.)", "rerun images x seeds (nested)", "(indep.)",
                         "adjacent log-ratio sd (nested)", "(independent)"], rows,
                        notes=notes, datasets=out, budget=args.budget, seeds=args.seeds,
                        max_images=args.max_images, reruns=args.reruns)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
