"""Accuracy vs cost, paper-style: XTiny's pick, full nnU-Net 2d and the three lightweight baselines, one budget.

    .venv/bin/python bench/bench_accuracy.py [--budget small|paper] [--kind bus] [--device cpu]
    .venv/bin/python bench/bench_accuracy.py --smoke      # seconds: proves the script runs, numbers mean nothing

On a synthetic dataset (nnU-Net-planned 2d): the width search picks a configuration (``run_search``, K=32,
3 seeds, TV rule); then the pick, ``2d``, UNeXt, CMUNeXt-S and TinyU-Net are trained with the MONAI backend and
the same budget (epochs x iterations, batch and patch of ``2d``, fold 0), and evaluated on fold 0's held-out
cases with ``xtiny.evaluation.evaluate.evaluate_models`` (nnU-Net's predictor for plans configurations, the
raw-geometry validation predictions for the baselines): Dice ± sd, HD95 ± sd, parameters, GFLOPs at the
patch size, 1-thread CPU latency, and size ratios against the pick.
Writes ``bench/results/accuracy_<device>.json``. Check ``uptime`` first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BASELINES = ("unext", "cmunext_s", "tinyunet")
DATASET_ID = 960
BUDGETS = {  # "small" is sized for ~10 min on 2 idle CPU cores
    "smoke": {"size": 64, "cases": 12, "epochs": 1, "iterations": 2, "k": 8, "seeds": 1},
    "small": {"size": 96, "cases": 60, "epochs": 12, "iterations": 50, "k": 32, "seeds": 3},
    "paper": {"size": 256, "cases": 300, "epochs": 100, "iterations": 250, "k": 32, "seeds": 3},
}


def _pm(stat: dict | None, scale: float = 1.0) -> str | None:
    if not stat or stat.get("mean") is None:
        return None
    return f"{scale * stat['mean']:.2f} ± {scale * (stat.get('sd') or 0.0):.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", choices=["small", "paper"], default="small")
    ap.add_argument("--smoke", action="store_true", help="minimal sizes (seconds); results marked as smoke")
    ap.add_argument("--kind", default="bus", help="synthetic kind (2d): bus, derm, fundus, echo, cardiac")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--work", default=None, help="work folder (default /tmp/xtiny-bench-accuracy-<budget>)")
    args = ap.parse_args()
    budget_name = "smoke" if args.smoke else args.budget
    budget = BUDGETS[budget_name]
    os.environ.setdefault("MPLBACKEND", "Agg")
    from common import device_tag, load_average, synthetic_dataset, trained_with_monai, write_result

    from xtiny.evaluation.evaluate import InferenceSettings, evaluate_models
    from xtiny.search import SearchSettings, run_search
    from xtiny.training.backends.trainer_classes import budget_trainer_name

    load_start = load_average()
    t0 = time.perf_counter()
    work = Path(args.work or f"/tmp/xtiny-bench-accuracy-{budget_name}")
    name = synthetic_dataset(work, args.kind, DATASET_ID, budget["cases"], budget["size"])
    search = run_search(name, settings=SearchSettings(k=budget["k"], seeds=budget["seeds"],
                                                      device=args.device, confidence=None), progress=False)
    pick = search["chosen"]
    prep_s = time.perf_counter() - t0
    print(f"[accuracy] {name}: pick {pick} ({prep_s:.0f} s)", flush=True)

    trainer = budget_trainer_name(budget["epochs"], budget["iterations"], 0, backend="monai")
    models = [pick, "2d", *BASELINES]
    train_s = {}
    for model in models:
        train_s[model] = trained_with_monai(work, name, model, budget["epochs"], budget["iterations"], args.device)
        if train_s[model] is not None:
            print(f"[accuracy] trained {model} in {train_s[model]:.0f} s", flush=True)

    t0 = time.perf_counter()
    summary = evaluate_models(name, models, trainer=trainer, inference=InferenceSettings(device=args.device))
    eval_s = time.perf_counter() - t0
    entries = summary["models"]
    pick_params = entries[pick]["cost"]["params"]
    full_params = entries["2d"]["cost"]["params"]
    rows = []
    for model in models:
        e = entries[model]
        cost, fg = e["cost"], e["foreground"]
        rows.append([e["display"] + (" (XTiny pick)" if model == pick else ""), cost["params"],
                     round(cost["flops"] / 1e9, 4), None if cost.get("latency_ms") is None else round(cost["latency_ms"], 2),
                     _pm(fg["dice"], 100.0), _pm(fg["hd95"]), round(cost["params"] / pick_params, 1),
                     None if train_s[model] is None else round(train_s[model], 1)])
    best = max(models, key=lambda m: entries[m]["foreground"]["dice"]["mean"] or 0.0)
    notes = [
        f"Synthetic '{args.kind}' dataset {name}: {budget['cases']} cases of {budget['size']}x{budget['size']}; "
        f"{summary['num_cases']} held-out cases of fold 0. Budget '{budget_name}': MONAI backend, {budget['epochs']} "
        f"epochs x {budget['iterations']} iterations ({trainer}), batch and patch of 2d, for every model.",
        f"XTiny pick {pick}: {full_params / pick_params:.0f}x fewer parameters than nnU-Net 2d; best Dice here: "
        f"{entries[best]['display']}.",
        "Dice / HD95: foreground mean over held-out cases ± sd (HD95 in pixels); GFLOPs = 2 x MACs of one patch; "
        "latency: median batch-1 torch CPU forward of one patch, 1 thread.",
        "Plans configurations are predicted by nnU-Net's predictor from the raw images; baselines by the MONAI "
        "backend's sliding window, exported to raw geometry with nnU-Net's export (its fold_0/validation/).",
        "Paper (BUS-BRA, 100+ epochs, GPU): XTiny 90.64±7.57, nnU-Net 2d 89.90±10.25, UNeXt 83.43±13.78, "
        "CMUNeXt-S 89.22±10.32, TinyU-Net 80.88±17.91 Dice %: compare ranks and ratios, not values.",
        f"Wall time: prepare+search {prep_s:.0f} s, training {sum(v or 0 for v in train_s.values()):.0f} s, "
        f"evaluation {eval_s:.0f} s; load average {load_start} at start, {load_average()} at end.",
    ]
    if budget_name == "smoke":
        notes.insert(0, "SMOKE RUN: minimal sizes to prove the script works; the figures carry no meaning.")
    tag = device_tag(args.device)
    path = write_result(
        f"accuracy_{tag}" + ("_smoke" if budget_name == "smoke" else ""),
        f"Accuracy and cost, synthetic {args.kind} {budget['size']}x{budget['size']}, same budget, {tag}",
        ["model", "params", "GFLOPs", "latency ms (1 thread)", "Dice %", "HD95 (px)", "params / pick params",
         "train s"], rows, notes=notes, dataset=name, budget=budget_name, budget_settings=budget, trainer=trainer,
        xtiny_pick=pick, evaluation_summary=summary["files"]["summary"], load_average_start=load_start,
        load_average_end=load_average())
    print(f"[accuracy] wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
