"""Distillation gain: the XTiny pick trained alone vs distilled from the full 2d teacher (same fold, same budget).

    .venv/bin/python bench/bench_distill.py [--datasets bus cardiac fundus mni] [--budget small] [--device cpu]
    .venv/bin/python bench/bench_distill.py --smoke      # minutes: proves the script runs, numbers mean nothing

For each dataset (fresh in ``--work``; datasets and ids as in ``bench_selection.py``): nnU-Net planning, the width
search (the pick), then with the MONAI backend and one budget for every run: the 2d teacher, the pick alone, and the
pick distilled from that teacher over a grid of α and T (``xtiny.training.backends.monai_backend.train_monai(teacher=...)``).
Fold-0 validation cases, predictions exported to raw geometry by the trainer: Dice and HD95 (XTiny's metrics).

Per run: Dice, HD95, training seconds (the KD runs include the teacher's forward passes), and the share of the
pick's gap to its teacher that distillation closes, ``(Dice_KD - Dice_alone) / (Dice_teacher - Dice_alone)``.
The best grid setting (largest mean Dice gain over the datasets) is what ``KD_DEFAULT_ALPHA`` /
``KD_DEFAULT_TEMPERATURE`` should be. Writes ``bench/results/distill_<budget>_<device>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

GRID = [(0.1, 2.0), (0.5, 2.0), (0.5, 4.0), (0.9, 2.0)]  # (alpha, T): a small grid, sized for 2 CPU cores
SMOKE_GRID = [(0.5, 2.0)]


def fold_metrics(dataset_name: str, fold_folder: Path) -> dict:
    """Foreground Dice and HD95 (mean over validation cases) of the trainer's exported validation predictions."""
    from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_dataset_json

    from xtiny.atomic import read_json
    from xtiny.evaluation.metrics import evaluate_folder, summarize
    from xtiny.paths import nnunet_dirs

    raw = nnunet_dirs().raw / dataset_name
    ds = read_json(raw / "dataset.json", "dataset.json")
    ending = ds["file_ending"]
    labels = sorted(int(v) for k, v in ds["labels"].items() if k != "background" and not isinstance(v, list))
    cases = sorted(p.name[:-len(ending)] for p in (fold_folder / "validation").glob(f"*{ending}"))
    reader = determine_reader_writer_from_dataset_json(ds, str(raw / "labelsTr" / f"{cases[0]}{ending}"))()
    records = evaluate_folder(str(raw / "labelsTr"), str(fold_folder / "validation"), labels, reader, ending, cases)
    fg = summarize(records, labels)["foreground"]
    return {"dice": fg["dice"]["mean"], "hd95": fg["hd95"]["mean"], "cases": len(cases)}


def train(dataset_name: str, configuration: str, budget: dict, device: str, teacher: str | None = None,
          alpha: float = 0.0, temperature: float = 1.0) -> dict:
    """One MONAI-backend training (reused when finished in the work folder); its metrics and logged seconds."""
    from xtiny.nnunet.checkpoints import load_checkpoint
    from xtiny.nnunet.trained import logged_training_seconds, model_folder
    from xtiny.training.backends.monai_backend import train_monai
    from xtiny.training.spec import TrainSpec

    spec = TrainSpec(backend="monai", epochs=budget["epochs"], iterations_per_epoch=budget["iterations"],
                     val_iterations=0, device=device, kd=None if teacher is None else (alpha, temperature))
    trainer = spec.trainer_name
    fold = model_folder(dataset_name, trainer, configuration) / "fold_0"
    if not (fold / "validation" / "summary.json").is_file():
        train_monai(dataset_name, configuration, spec, teacher=teacher)
    seconds = logged_training_seconds(load_checkpoint(fold / "checkpoint_final.pth"))
    return {"trainer": trainer, "checkpoint": str(fold / "checkpoint_final.pth"), "seconds": seconds,
            **fold_metrics(dataset_name, fold)}


def run_dataset(label: str, budget_name: str, args) -> dict:
    from bench_selection import BUDGETS, DATASETS, prepare_dataset

    from xtiny.family import add_width_family
    from xtiny.search import SearchSettings, run_search

    budget = BUDGETS[budget_name]
    _, _, base = DATASETS[label]
    if base != "2d":
        raise SystemExit(f"{label}: the distillation bench trains 2d datasets (MONAI backend) only")
    name = prepare_dataset(label, budget, Path(args.work))
    add_width_family(name, "2d")
    pick = run_search(name, "2d", SearchSettings(k=budget["k"], seeds=1, device=args.device, confidence=None),
                      progress=False)["chosen"]
    teacher = train(name, "2d", budget, args.device)
    alone = train(name, pick, budget, args.device)
    runs = []
    for alpha, temperature in (SMOKE_GRID if args.smoke else GRID):
        kd = train(name, pick, budget, args.device, teacher=teacher["checkpoint"], alpha=alpha,
                   temperature=temperature)
        gap = teacher["dice"] - alone["dice"]
        runs.append({"alpha": alpha, "temperature": temperature, **kd,
                     "gain_points": round(100 * (kd["dice"] - alone["dice"]), 2),
                     "gap_closed": round((kd["dice"] - alone["dice"]) / gap, 3) if gap > 0.005 else None,
                     "extra_seconds_share": round(kd["seconds"] / alone["seconds"] - 1, 3)
                     if kd["seconds"] and alone["seconds"] else None})
        print(f"[distill] {label}: alpha {alpha:g} T {temperature:g}: Dice {100 * kd['dice']:.2f} % "
              f"(alone {100 * alone['dice']:.2f}, teacher {100 * teacher['dice']:.2f})", flush=True)
    return {"dataset": name, "label": label, "pick": pick, "teacher": teacher, "alone": alone, "kd": runs}


def main() -> int:
    from common import device_tag, load_average, write_result

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["bus", "cardiac", "fundus", "mni"])
    ap.add_argument("--budget", default="small", choices=["small", "small4x", "gpu1k", "paper"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--smoke", action="store_true", help="minimal sizes and one grid point; results marked smoke")
    ap.add_argument("--work", default=None, help="work folder (default /tmp/xtiny-bench-distill-<budget>)")
    args = ap.parse_args()
    budget_name = "smoke" if args.smoke else args.budget
    args.work = args.work or f"/tmp/xtiny-bench-distill-{budget_name}"
    os.environ.setdefault("MPLBACKEND", "Agg")
    load_start, started = load_average(), time.perf_counter()
    results = [run_dataset(label, budget_name, args) for label in args.datasets]

    grid = SMOKE_GRID if args.smoke else GRID
    mean_gain = {g: sum(next(r for r in res["kd"] if (r["alpha"], r["temperature"]) == g)["gain_points"]
                        for res in results) / len(results) for g in grid}
    best = max(grid, key=lambda g: mean_gain[g])
    rows = []
    for res in results:
        t, a = res["teacher"], res["alone"]
        rows.append([res["label"], "teacher 2d", None, None, round(100 * t["dice"], 2), _r(t["hd95"]), t["seconds"],
                     None, None, None])
        rows.append([res["label"], f"{res['pick']} alone", None, None, round(100 * a["dice"], 2), _r(a["hd95"]),
                     a["seconds"], 0.0, 0.0, 0.0])
        for r in res["kd"]:
            rows.append([res["label"], f"{res['pick']} + KD", r["alpha"], r["temperature"], round(100 * r["dice"], 2),
                         _r(r["hd95"]), r["seconds"], r["gain_points"], r["gap_closed"], r["extra_seconds_share"]])
    best_runs = [next(r for r in res["kd"] if (r["alpha"], r["temperature"]) == best) for res in results]
    half = sum((r["gap_closed"] or 0) >= 0.5 for r in best_runs)
    cheap = sum(r["extra_seconds_share"] is not None and r["extra_seconds_share"] <= 0.5 for r in best_runs)
    from bench_selection import BUDGETS

    budget = BUDGETS[budget_name]
    notes = [
        f"MONAI backend, {budget['epochs']} epochs x {budget['iterations']} iterations for every run (teacher, pick "
        "alone, every KD student), fold 0, same seed; Dice and HD95 (pixels/voxels in raw geometry) on the fold-0 "
        "validation cases, foreground mean.",
        "Gap closed = (Dice KD - Dice alone) / (Dice teacher - Dice alone) (blank when the teacher is not 0.5 points "
        "above the pick); extra s = KD training seconds / pick-alone seconds - 1 (the teacher's forward passes; "
        "sequential runs on one machine, so load shifts it).",
        f"Best grid setting by mean Dice gain over the datasets: alpha {best[0]:g}, T {best[1]:g} "
        f"({mean_gain[best]:+.2f} points); mean gains: "
        + ", ".join(f"a{g[0]:g}/T{g[1]:g} {v:+.2f}" for g, v in mean_gain.items()) + ".",
        f"At that setting: distillation closes at least half of the gap to the teacher on {half} of {len(results)} "
        f"datasets; extra training <= 50 % on {cheap} of {len(results)}.",
        f"Wall time {time.perf_counter() - started:.0f} s; load average {load_start} at start, {load_average()} at end.",
    ]
    if args.smoke:
        notes.insert(0, "SMOKE RUN: minimal sizes to prove the script works; the figures carry no meaning.")
    tag = device_tag(args.device)
    path = write_result(f"distill_{tag}_smoke" if args.smoke else f"distill_{budget_name}_{tag}",
                        f"Distillation: the XTiny pick alone vs distilled from the full 2d, budget {budget_name}, {tag}",
                        ["dataset", "model", "alpha", "T", "Dice %", "HD95", "train s", "gain (pts)", "gap closed",
                         "extra s (share)"], rows, notes=notes, best={"alpha": best[0], "temperature": best[1]},
                        mean_gain_points={f"{a:g}/{t:g}": v for (a, t), v in mean_gain.items()}, runs=results,
                        budget=budget_name, budget_settings=budget)
    print(f"[distill] wrote {path}; best alpha {best[0]:g}, T {best[1]:g}", flush=True)
    return 0


def _r(value) -> float | None:
    return None if value is None else round(float(value), 2)


if __name__ == "__main__":
    sys.exit(main())
