"""Family runs vs solo runs (issue 27): equivalence of the trained networks, and what a family run costs.

For each dataset (synthetic, planned by nnU-Net) and seed, in one run of this script:
* **family**: ``xtiny train -c 2d_xtiny{P},2d_xtiny{2P},2d_xtiny{4P},2d --seed S`` (one batch stream, nnU-Net's
  trainer), and, for the cost of confirm alone, the same without ``2d`` (first seed only);
* **solo**: each of those configurations trained alone with ``xtiny train -c NAME --seed S`` (the same
  initialisation seed per network as in the family run, so the two differ only by their batches).
Every training is one CLI process in its own nnU-Net results folder, timed whole (start-up and final validation
included) with :func:`common.run_measured`. The validation Dice is nnU-Net's own final validation.

Reported: per dataset and width, the family-minus-solo Dice difference (mean over seeds, paired by seed) next to
the seed spread of the solo Dice; per seed, the wall times of (a) 2d alone, (b) the pick alone, (c) pick + 2 wider,
(d) pick + 2 wider + 2d, solo (sums) and family; confirm's extra training (the wider neighbours, and with the
baseline joined) as a share of one full-size training; and where a family step's time goes (waiting for the batch,
each network's step), from ``family_run.json``.

Usage: ``python bench/bench_family.py [--datasets bus cardiac] [--seeds 3] [--size 96] [--epochs 8]
[--iterations 25] [--device cpu]``. Writes ``bench/results/family_<device>.json``. Check the load first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_average, run_measured, synthetic_dataset, write_result  # noqa: E402

DATASET_IDS = {"bus": 961, "cardiac": 962, "fundus": 963}


def _train(work: Path, results: str, dataset: str, configurations: list[str], seed: int, args) -> dict:
    """One ``xtiny train`` process (a family run when several configurations), in its own results folder."""
    folder = work / results
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "nnUNet_results": str(folder)}
    if args.device.startswith("cuda") and os.environ.get("XTINY_BENCH_DA") is None:
        env.pop("nnUNet_n_proc_DA", None)  # nnU-Net's own augmentation workers on a GPU machine
    elif args.device == "cpu":
        env.setdefault("nnUNet_n_proc_DA", "0")
    cmd = [sys.executable, "-m", "xtiny", "train", "-d", dataset, "-c", ",".join(configurations),
           "--epochs", str(args.epochs), "--iterations", str(args.iterations), "--val-iterations",
           str(args.val_iterations), "--device", args.device, "--seed", str(seed)]
    log = folder / f"{'+'.join(configurations)}.log"
    report = log.with_suffix(".rusage.json")  # run_measured's report, written when the process has ended
    finished = json.loads(report.read_text()) if report.is_file() else None
    load_file = log.with_suffix(".load.json")  # the load average when that process ended, kept for a resumed bench
    if finished is not None and finished["returncode"] == 0:  # measured by an earlier, interrupted run of this bench
        measured = {"wall_s": round(finished["wall_s"], 2), "max_process_rss_gib": round(finished["maxrss_kib"] / 2**20, 3)}
        load = json.loads(load_file.read_text())["load"] if load_file.is_file() else None
    else:
        measured = run_measured(cmd, env=env, log=log)
        if measured["returncode"] != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed; see {measured['log']}")
        load = load_average()
        load_file.write_text(json.dumps({"load": load}))
    trainer = f"nnUNetTrainer_XTiny_{args.epochs}ep_{args.iterations}it_{args.val_iterations}val"
    out = {"wall_s": measured["wall_s"], "peak_rss_gib": measured["max_process_rss_gib"], "load": load, "dice": {},
           "steps": {}}
    for configuration in configurations:
        fold = folder / dataset / f"{trainer}__nnUNetPlans__{configuration}" / "fold_0"
        summary = json.loads((fold / "validation" / "summary.json").read_text())
        out["dice"][configuration] = summary["foreground_mean"]["Dice"]
        record = fold / "family_run.json"
        if record.is_file():
            out["steps"] = json.loads(record.read_text()).get("step_seconds", {})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["bus", "cardiac"], choices=sorted(DATASET_IDS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--pick", type=int, default=8, help="the pick's cap; its two wider neighbours are 2x and 4x")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=25)
    parser.add_argument("--val-iterations", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()

    from xtiny.family import add_width_family

    work = Path(args.work or tempfile.mkdtemp(prefix="xtiny-bench-family-"))
    caps = [args.pick, 2 * args.pick, 4 * args.pick]
    load_start = load_average()
    cost_rows, step_rows, per_dataset = [], [], {}
    datasets = {}
    for kind in args.datasets:
        datasets[kind] = synthetic_dataset(work, kind, DATASET_IDS[kind], args.cases, args.size)
        add_width_family(datasets[kind], "2d", caps=caps)
    pick, wider = f"2d_xtiny{caps[0]}", [f"2d_xtiny{c}" for c in caps[1:]]
    members = [pick, *wider, "2d"]
    for seed in range(args.seeds):  # seeds outermost: a shortened run still covers every dataset
        for kind, dataset in datasets.items():
            runs = per_dataset.setdefault(kind, {"members": members, "runs": []})["runs"]
            print(f"[bench_family] {kind} seed {seed}: family run of {', '.join(members)}", flush=True)
            family = _train(work, f"family_{kind}_s{seed}", dataset, members, seed, args)
            solo = {c: _train(work, f"solo_{kind}_s{seed}", dataset, [c], seed, args) for c in members}
            confirm = _train(work, f"confirm_{kind}_s{seed}", dataset, [pick, *wider], seed, args) if seed == 0 \
                else None
            runs.append({"seed": seed, "family": family, "solo": solo, "confirm_family": confirm})
            solo_s = {c: solo[c]["wall_s"] for c in members}
            if confirm is not None:
                full = solo_s["2d"]
                cost_rows.append([
                    kind, seed, full, solo_s[pick], round(sum(solo_s[c] for c in [pick, *wider]), 2),
                    confirm["wall_s"], round(sum(solo_s.values()), 2), family["wall_s"],
                    round(100 * sum(solo_s[c] for c in wider) / full, 1),
                    round(100 * (confirm["wall_s"] - solo_s[pick]) / full, 1),
                    round(100 * (family["wall_s"] - solo_s[pick] - full) / full, 1),
                    round(family["wall_s"] / sum(solo_s.values()), 2),
                    max((r["load"] for r in [family, confirm, *solo.values()] if r["load"] is not None), default=None)])
                step_rows.append([kind, "family " + "+".join(members),
                                  *[_ms(family["steps"].get(k)) for k in ["data", *members]]])
            _write(args, per_dataset, cost_rows, step_rows, caps, load_start)  # after every seed: a kill keeps it
    print(f"[bench_family] wrote bench/results/family_{args.device}.json")
    return 0


def _equivalence_rows(per_dataset: dict) -> list[list]:
    rows = []
    for kind, data in per_dataset.items():
        runs = data["runs"]
        for c in data["members"]:
            diffs = [100 * (r["family"]["dice"][c] - r["solo"][c]["dice"][c]) for r in runs]
            solo_dice = [100 * r["solo"][c]["dice"][c] for r in runs]
            family_dice = [100 * r["family"]["dice"][c] for r in runs]
            spread = statistics.stdev(solo_dice) if len(solo_dice) > 1 else None
            diff_sd = statistics.stdev(diffs) if len(diffs) > 1 else None
            mean_diff = statistics.mean(diffs)
            rows.append([kind, c, len(runs), round(statistics.mean(solo_dice), 2), round(statistics.mean(family_dice), 2),
                         round(mean_diff, 2), f"{min(diffs):.2f} .. {max(diffs):.2f}",
                         None if diff_sd is None else round(diff_sd, 2), None if spread is None else round(spread, 2),
                         None if spread is None else abs(mean_diff) <= spread])
    return rows


def _write(args, per_dataset: dict, cost_rows: list, step_rows: list, caps: list[int], load_start: float) -> None:
    write_result(
        f"family_{args.device}",
        f"Family runs vs solo runs: validation Dice and wall time ({args.device}, {args.size} px, "
        f"{args.epochs} x {args.iterations} iterations, up to {args.seeds} seeds)",
        ["dataset", "configuration", "seeds done", "solo Dice % (mean)", "family Dice % (mean)",
         "family - solo (pts, paired)", "paired range (pts)", "paired sd (pts)", "solo seed spread (pts, sd)",
         "within the spread"],
        _equivalence_rows(per_dataset),
        extra_tables=[
            {"title": "Wall time of whole training processes (s), solo sums vs family runs, side by side",
             "header": ["dataset", "seed", "(a) 2d alone", "(b) pick alone", "(c) pick + 2 wider, solo",
                        "(c) family", "(d) + 2d, solo", "(d) family", "confirm extra, solo (% of 2d)",
                        "confirm extra, family (% of 2d)", "confirm extra with 2d joined, family (% of 2d)",
                        "(d) family / (d) solo",
                        "load (highest at the end of its runs)"], "rows": cost_rows},
            {"title": "Where a family step's time goes (ms per iteration, first iterations, measured in the run)",
             "header": ["dataset", "run", "waiting for the batch", *["step " + c for c in
                                                                     ["pick", "2x", "4x", "2d"]]],
             "rows": step_rows}],
        settings=vars(args) | {"caps": caps}, load_at_start=load_start, load_at_end=load_average(),
        runs=per_dataset,
        notes=["Dice: nnU-Net's final validation of fold 0 (foreground mean). Solo and family runs of one seed give "
               "every network the same initial weights; they differ only in the batches.",
               "Wall times are whole `xtiny train` processes (imports, start-up, training, final validation), one "
               "after the other on this machine; ratios within one seed are side by side.",
               "confirm extra: the wider neighbours' training beyond the pick's own (the pick's training is reused "
               "by train_pick), as a share of one full-size 2d training at the same budget; 'with 2d joined' also "
               "trains the baseline in the same run (xtiny run), counting what the baseline's solo run would cost "
               "as not extra.",
               "The JSON is rewritten after every seed; 'seeds done' says how many a dataset's row rests on. A "
               "resumed bench reads back the processes an interrupted run finished, with the load recorded when "
               "they ran.",
               "'Within the spread': |mean paired difference| <= the solo seed sd. At a short budget the seed sd "
               "is large, so it rules out only large differences; the paired range and sd say how large."])


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 1)


if __name__ == "__main__":
    sys.exit(main())
