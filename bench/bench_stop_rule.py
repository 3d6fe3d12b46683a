"""Benchmark: does the probe's stop rule reach the K=all pick, and how much probing does it save?

    .venv/bin/python bench/bench_stop_rule.py [--budget small] [--datasets bus cardiac ...] [--replays 20]

On the selection bench's datasets (``bench_selection.py``'s ``prepare_dataset``, same work folder and budget), per
dataset, in one process:

1. ``run_search`` with its defaults (stop rule at confidence 0.95, at most every case, 3 seeds and 12 on the cheap
   candidates) on an emptied score
   cache, timed: the search a user gets.
2. Every image with every seed the default search may give each candidate (3, and 12 for the cheap ones; the units
   the default run did not probe are probed now, each timed): the K=all reference pick and the full norm tensor.
3. ``replays`` re-runs of the stop rule on that tensor with the images in other random orders (replay 0 is the
   shipped order, and must give the same trail as step 1): the share of runs whose pick is the K=all pick, and the
   share of the K=all probing they used.

Time saved: the default run's wall time against the K=all search's, which is the default run's wall time plus the
probe seconds of every unit it did not probe (each unit timed once, in this run). Writes
``bench/results/stop_rule_<budget>_<device>.json``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SEEDS = 3


def full_tensor(name: str, base: str, device: str):
    """(setup, norms[c, s, i], seed limits, probe seconds spent now): every image with every seed a candidate may get
    in the default search (:data:`SEEDS` for all, the narrow seeds too for the cheap ones; NaN beyond)."""
    import numpy as np

    from xtiny.search import CandidateProbe, SearchSettings, narrow_seed_limits, prepare_search
    from xtiny.sensitivity.stop_rule import batch_bounds

    setup = prepare_search(name, base, SearchSettings(seeds=SEEDS, device=device, confidence=0.95))
    batches = [setup.order[lo:hi] for lo, hi in batch_bounds(len(setup.order))]
    probes = [CandidateProbe(setup, n) for n in setup.names]
    all_seeds = [*setup.seeds, *setup.narrow_seeds]
    limits = narrow_seed_limits([p.entry["macs"] for p in probes], SEEDS, len(all_seeds))
    for ids in batches:
        inputs = setup.source.read(ids)
        for j, seed in enumerate(all_seeds):  # seeds outer: one widest draw per seed, every candidate sliced from it
            for probe, limit in zip(probes, limits, strict=True):
                if j < limit:
                    probe.probe(seed, inputs)
                    probe.release(seed)
    norms = np.full((len(probes), len(all_seeds), len(setup.order)), np.nan)
    for c, (probe, limit) in enumerate(zip(probes, limits, strict=True)):
        norms[c, :limit] = [probe.per_image(s, batches) for s in all_seeds[:limit]]
    return setup, norms, limits, sum(p.seconds for p in probes)


def replay(norms, caps: list[int], names: list[str], order: list[int], confidence: float, *,
           paired: bool = True, seed_limits: list[int] | None = None) -> dict:
    """The stop rule's rounds on ``norms`` (images taken in ``order``, seeds as a prefix of ``norms``' seed axis):
    its pick, images and seeds used. ``paired``: the seeds are nested draws (the default search's), bootstrapped as
    pairs. ``seed_limits`` (nested): the most seeds per candidate, a seed going to the contested candidates only (the
    default search's narrow seeds); None: every candidate gets every seed added, up to all of ``norms``'."""
    import numpy as np

    from xtiny.sensitivity.stop_rule import SamplingState, batch_bounds, next_step

    bounds = batch_bounds(len(order))
    state, trail = SamplingState.start(seed_limits or [norms.shape[1]] * len(caps)), []
    while True:
        used = order[:bounds[state.batches - 1][1]]
        measured = norms[:, :, used].copy()
        for c, n in enumerate(state.seed_counts):
            measured[c, n:] = np.nan
        verdict = next_step(measured[:, :max(state.seed_counts)], caps, names, "tv", confidence,
                            images_left=state.batches < len(bounds),
                            seeds_left=seed_limits or state.seed_counts[0] < norms.shape[1], paired=paired)
        trail.append({"images": len(used), "seeds": list(state.seed_counts), "pick": verdict.pick,
                      "agreement": verdict.agreement, "next": verdict.action})
        if verdict.action == "stop":
            units = len(used) * sum(state.seed_counts)
            return {"pick": verdict.pick, "images": len(used), "seeds": state.seed_counts[0],
                    "seed_counts": list(state.seed_counts), "trail": trail,
                    "probe_share": units / (len(caps) * norms.shape[1] * norms.shape[2])}
        state.advance(verdict)


def measure(label: str, budget: dict, work: Path, device: str, replays: int) -> dict:
    import numpy as np
    from bench_selection import DATASETS, prepare_dataset

    from xtiny.artifacts import xtiny_dir
    from xtiny.search import SearchSettings, run_search
    from xtiny.sensitivity.knee import select_knee
    from xtiny.sensitivity.stop_rule import score_curve

    base = DATASETS[label][2]
    name = prepare_dataset(label, budget, work)
    shutil.rmtree(xtiny_dir(name) / "cache", ignore_errors=True)
    t0 = time.perf_counter()
    default = run_search(name, base, SearchSettings(device=device), progress=False, write=False)
    default_wall = time.perf_counter() - t0
    setup, norms, limits, extra_probe_s = full_tensor(name, base, device)
    caps = [setup.cap_of[n] for n in setup.names]
    reference = select_knee(caps, score_curve(norms), setup.names, rule="tv").chosen
    all_wall = default_wall + extra_probe_s  # its probe seconds are the default run's plus every unit it skipped
    shipped = replay(norms, caps, setup.names, list(range(norms.shape[2])), 0.95, seed_limits=limits)
    rng = np.random.default_rng(0)
    runs = [shipped] + [replay(norms, caps, setup.names, list(rng.permutation(norms.shape[2])), 0.95,
                               seed_limits=limits) for _ in range(replays - 1)]
    return {"dataset": label, "name": name, "images": norms.shape[2], "seeds": SEEDS, "k_all_pick": reference,
            "default_pick": default["chosen"], "default_images": default["k"], "default_seeds": len(default["seeds"]),
            "default_trail": default["sampling"]["rounds"], "default_wall_s": default_wall,
            "default_probe_s": sum(c["timings"]["probe_s"] for c in default["candidates"]),
            "k_all_wall_s": all_wall, "time_saved": 1 - default_wall / all_wall,
            "replay0_matches_default": shipped["pick"] == default["chosen"] and shipped["images"] == default["k"]
            and shipped["seed_counts"] == [len(c["seeds"]) for c in default["candidates"]],
            "replays": len(runs), "replays_reaching_k_all_pick": sum(r["pick"] == reference for r in runs) / len(runs),
            "replay_mean_probe_share": float(np.mean([r["probe_share"] for r in runs])),
            "replay_picks": [r["pick"] for r in runs]}


def plot_stability(out: list[dict], path: Path) -> Path:
    """Per dataset: share of the stop rule's runs reaching the K=all pick against the share of K=all probing used."""
    from xtiny.plotting import pyplot, save_png

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for r, marker in zip(out, "osD^v<>ph*", strict=False):
        ax.scatter([100 * r["replay_mean_probe_share"]], [100 * r["replays_reaching_k_all_pick"]], s=45, marker=marker,
                   label=r["dataset"], alpha=0.8)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_xlim(0, 100)
    ax.set_ylim(-5, 105)
    ax.set_xlabel("probe units used, % of K=all x every seed (mean over image orders)")
    ax.set_ylabel("runs reaching the K=all pick (%)")
    ax.set_title("Stop rule at confidence 0.95", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path, dpi=90)


def selection_data_parser(description: str) -> argparse.ArgumentParser:
    """The options of a bench on the selection bench's datasets: --budget, --datasets, --device, --work."""
    from bench_selection import BUDGETS, DATASETS

    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", default="small", choices=list(BUDGETS))
    ap.add_argument("--datasets", nargs="+", default=["bus", "cardiac", "derm", "fundus", "echo", "mni", "colin27"],
                    choices=list(DATASETS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--work", default=None, help="default: /tmp/xtiny-bench-selection-<budget> (shared with it)")
    return ap


def main() -> int:
    from bench_selection import BUDGETS

    ap = selection_data_parser(__doc__)
    ap.add_argument("--replays", type=int, default=20)
    args = ap.parse_args()
    from common import RESULTS, device_tag, load_average, write_result

    work = Path(args.work or f"/tmp/xtiny-bench-selection-{args.budget}")
    load_start, out = load_average(), []
    for label in args.datasets:
        res = measure(label, BUDGETS[args.budget], work, args.device, args.replays)
        out.append(res)
        print(f"{label}: default {res['default_pick']} ({res['default_images']} img x {res['default_seeds']} seeds, "
              f"{res['default_wall_s']:.1f} s) vs K=all {res['k_all_pick']} ({res['k_all_wall_s']:.1f} s); "
              f"replays reaching it {res['replays_reaching_k_all_pick']:.0%}", flush=True)
    rows = [[r["dataset"], r["images"], r["k_all_pick"], r["default_pick"],
             f"{r['default_images']} x {r['default_seeds']}", round(r["default_wall_s"], 1), round(r["k_all_wall_s"], 1),
             f"{r['time_saved']:.0%}", f"{r['replays_reaching_k_all_pick']:.0%}", f"{r['replay_mean_probe_share']:.0%}"]
            for r in out]
    same = sum(r["default_pick"] == r["k_all_pick"] for r in out)
    differ = [r["dataset"] for r in out if r["default_pick"] != r["k_all_pick"]]
    notes = [f"The default search reached the K=all pick on {same} of {len(out)} datasets"
             + (f"; it differs on: {', '.join(differ)}." if differ else "."),
             f"Over {args.replays} image orders per dataset (the shipped order first), "
             f"{sum(r['replays_reaching_k_all_pick'] for r in out) / len(out):.0%} of the runs reached the K=all pick, "
             f"using {sum(r['replay_mean_probe_share'] for r in out) / len(out):.0%} of its probes on average.",
             "K=all wall = the default run's wall time plus the probe seconds of every unit it did not probe "
             f"(units: images x seeds x candidates; {SEEDS} seeds, 12 on the cheap candidates), each timed once "
             "in this run.",
             f"Load average {load_start:.2f} at start, {load_average():.2f} at end."]
    if not all(r["replay0_matches_default"] for r in out):
        notes.append("WARNING: replay 0 differs from the real default run on "
                     + ", ".join(r["dataset"] for r in out if not r["replay0_matches_default"]))
    tag = device_tag(args.device)
    stem = f"stop_rule_{tag}_smoke" if args.budget == "smoke" else f"stop_rule_{args.budget}_{tag}"
    figure = plot_stability(out, RESULTS / f"{stem}.png")
    notes.insert(0, f"Figure: ![stop rule stability](bench/results/{figure.name})")
    path = write_result(stem, f"Stop rule vs K=all ({args.budget} budget, {tag})",
                        ["dataset", "images", "K=all pick", "default pick", "default images x seeds", "default s",
                         "K=all s", "time saved", "replays reaching K=all pick", "probes used (replays)"], rows,
                        notes=notes, datasets=out, budget=args.budget, replays=args.replays)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
