"""Distillation gain: the XTiny pick trained alone vs distilled from the full 2d (same fold, same budget), for each
KD term (pixel, cwd, fg), offline (a trained teacher) and online (the 2d teaches in the same family run).

    .venv/bin/python bench/bench_distill.py [--datasets bus cardiac fundus mni] [--budget small] [--device cpu]
    .venv/bin/python bench/bench_distill.py --smoke      # minutes: proves the script runs, numbers mean nothing

For each dataset (fresh in ``--work``; datasets and ids as in ``bench_selection.py``): nnU-Net planning, the width
search (the pick), then with the MONAI backend and one budget for every run:

* the online family run ``[pick, 2d]`` with ``--distill online`` (:data:`ONLINE`): its 2d is the teacher of every
  offline student below, its pick the online student;
* the plain family run ``[pick, 2d]`` (its own results folder): what the online KD adds to the family's time;
* the pick alone, seed 0 (beside the students) and seeds 1 and 2 (their own results folders): the seed spread a gain
  must beat;
* the pick distilled from the trained 2d over :data:`GRID` (loss, α, T), or the ``--grid`` given; with
  ``--student-seeds 1 2`` every student is also trained with the plain pick's other seeds, so a gain is judged
  against the seed spread by means and by separation (every student above every plain seed).

``--online LOSS:ALPHA:T`` sets the online family run's KD term (default :data:`ONLINE`).

Fold-0 validation cases, predictions exported to raw geometry by the trainer: Dice and HD95 (XTiny's metrics).
Per run: Dice, HD95, training seconds (offline KD runs include the teacher's forward passes), and the share of the
pick's gap to its teacher that distillation closes, ``(Dice_KD - Dice_alone) / (Dice_teacher - Dice_alone)``.
The best grid setting (largest mean Dice gain over the datasets) is what ``KD_DEFAULT_LOSS``, ``KD_DEFAULT_ALPHA``
and ``KD_DEFAULT_TEMPERATURE`` should be, if it does not lose on average. Writes
``bench/results/distill_<budget>_<device>.json`` after every dataset (a cut run keeps the datasets it finished).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# (loss, alpha, T): pixel at its best setting of the first run (2026-11-27), cwd at its paper's tau 4, fg at T 2;
# 5 students per dataset, sized for 2 CPU cores
GRID = [("pixel", 0.1, 2.0), ("cwd", 0.1, 4.0), ("cwd", 0.5, 4.0), ("fg", 0.1, 2.0), ("fg", 0.5, 2.0)]
SMOKE_GRID = [("cwd", 0.5, 2.0)]
ONLINE = ("cwd", 0.5, 4.0)  # the one online setting, fixed before any result (CWD's own tau)
ONLINE_WARMUP = 0.25  # xtiny's placeholder default
EXTRA_SEEDS = (1, 2)  # the plain pick's other seeds


def fold_metrics(dataset_name: str, fold_folder: Path) -> dict:
    """Foreground Dice and HD95 (mean over validation cases) of the trainer's exported validation predictions."""
    from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_dataset_json

    from xtiny.atomic import read_json
    from xtiny.evaluation.metrics import evaluate_folder, summarize
    from xtiny.evaluation.patient_dice import dice_by_patient, patients_of
    from xtiny.paths import nnunet_dirs

    raw = nnunet_dirs().raw / dataset_name
    ds = read_json(raw / "dataset.json", "dataset.json")
    ending = ds["file_ending"]
    labels = sorted(int(v) for k, v in ds["labels"].items() if k != "background" and not isinstance(v, list))
    cases = sorted(p.name[:-len(ending)] for p in (fold_folder / "validation").glob(f"*{ending}"))
    reader = determine_reader_writer_from_dataset_json(ds, str(raw / "labelsTr" / f"{cases[0]}{ending}"))()
    records = evaluate_folder(str(raw / "labelsTr"), str(fold_folder / "validation"), labels, reader, ending, cases)
    fg = summarize(records, labels)["foreground"]
    patients = patients_of(ds)
    per_patient = {p: None if v["dice"] is None else round(100 * v["dice"], 2)
                   for p, v in dice_by_patient(records, patients, labels).items()} if patients else None
    return {"dice": fg["dice"]["mean"], "hd95": fg["hd95"]["mean"], "cases": len(cases),
            **({"per_patient": per_patient} if per_patient else {})}


def budget_spec(budget: dict, device: str, **kd):
    """The MONAI-backend TrainSpec of ``budget`` (no validation iterations), with KD settings ``kd``."""
    from xtiny.training.spec import TrainSpec

    return TrainSpec(backend="monai", epochs=budget["epochs"], iterations_per_epoch=budget["iterations"],
                     val_iterations=0, device=device, **kd)


def trained_metrics(dataset_name: str, fold: Path, trainer: str) -> dict:
    """Metrics, logged seconds and the family run's seconds (when it was trained in one) of a finished fold."""
    from xtiny.atomic import read_json
    from xtiny.nnunet.checkpoints import load_checkpoint
    from xtiny.nnunet.trained import logged_training_seconds

    family = fold / "family_run.json"
    return {"trainer": trainer, "checkpoint": str(fold / "checkpoint_final.pth"),
            "seconds": logged_training_seconds(load_checkpoint(fold / "checkpoint_final.pth")),
            "family_seconds": read_json(family, "family run record").get("family_seconds") if family.is_file() else None,
            **fold_metrics(dataset_name, fold)}


def train(dataset_name: str, configuration: str, budget: dict, device: str, teacher: str | None = None,
          loss: str = "pixel", alpha: float = 0.0, temperature: float = 1.0) -> dict:
    """One MONAI-backend training (reused when finished in the work folder); its metrics and logged seconds."""
    from xtiny.nnunet.trained import model_folder
    from xtiny.training.backends.monai_backend import train_monai

    spec = budget_spec(budget, device, **({} if teacher is None else
                                          {"kd": (alpha, temperature), "kd_loss": loss}))
    fold = model_folder(dataset_name, spec.trainer_name, configuration) / "fold_0"
    if not (fold / "validation" / "summary.json").is_file():
        train_monai(dataset_name, configuration, spec, teacher=teacher)
    return trained_metrics(dataset_name, fold, spec.trainer_name)


def online_family(dataset_name: str, pick: str, budget: dict, device: str,
                  online: tuple[str, float, float] = ONLINE) -> tuple[dict, dict]:
    """The family run ``[pick, 2d]`` with online KD ``online`` (loss, α, T): (the 2d teacher's run, the student's)."""
    from xtiny.nnunet.trained import model_folder
    from xtiny.training.backends.family_run import train_family

    loss, alpha, temperature = online
    spec = budget_spec(budget, device, kd=(alpha, temperature), kd_loss=loss, kd_warmup=ONLINE_WARMUP)
    plain = budget_spec(budget, device).trainer_name
    student = model_folder(dataset_name, spec.trainer_name, pick) / "fold_0"
    teacher = model_folder(dataset_name, plain, "2d") / "fold_0"
    if not (student / "validation" / "summary.json").is_file():
        if (teacher / "checkpoint_final.pth").is_file():  # the 2d of another online setting's family: train this
            return online_family_elsewhere(dataset_name, pick, budget, device, online, teacher)  # family elsewhere
        train_family(dataset_name, [pick, "2d"], spec)
    return trained_metrics(dataset_name, teacher, plain), trained_metrics(dataset_name, student, spec.trainer_name)


def online_family_elsewhere(dataset_name: str, pick: str, budget: dict, device: str,
                            online: tuple[str, float, float], teacher: Path) -> tuple[dict, dict]:
    """The online family ``[pick, 2d]`` in its own results folder (``results_online_<loss>`` beside the work
    folder's), when the work folder's 2d already trained in a family with another online setting: (the work
    folder's 2d, the offline students' teacher; the new online student)."""
    from xtiny.nnunet.plans import PLANS_IDENTIFIER

    loss, alpha, temperature = online
    spec = budget_spec(budget, device, kd=(alpha, temperature), kd_loss=loss, kd_warmup=ONLINE_WARMUP)
    results = teacher.parents[2].parent / f"results_online_{loss}"
    student = results / dataset_name / f"{spec.trainer_name}__{PLANS_IDENTIFIER}__{pick}" / "fold_0"
    if not (student / "validation" / "summary.json").is_file():
        train_in(results, dataset_name, f"{pick},2d", budget, device,
                 ["--distill", "online", "--kd-loss", loss, "--kd-alpha", str(alpha), "--kd-temperature",
                  str(temperature), "--kd-warmup", str(ONLINE_WARMUP)])
    plain = budget_spec(budget, device).trainer_name
    return trained_metrics(dataset_name, teacher, plain), trained_metrics(dataset_name, student, spec.trainer_name)


def in_own_results(dataset_name: str, configurations: str, budget: dict, device: str, results: Path,
                   seed: int = 0, teacher: str | None = None, kd: tuple[str, float, float] | None = None) -> dict:
    """``xtiny train -c configurations`` (MONAI, ``budget``, ``seed``; distilled from the checkpoint ``teacher`` with
    ``kd`` = (loss, α, T) when given) in a subprocess whose nnU-Net results folder is ``results`` (same raw and
    preprocessed data): a second run of a folder the main work folder already has. Returns the metrics of the first
    configuration (reused when finished)."""
    from xtiny.nnunet.plans import PLANS_IDENTIFIER

    kd_args = [] if teacher is None else ["--teacher", teacher, "--kd-loss", kd[0], "--kd-alpha", str(kd[1]),
                                          "--kd-temperature", str(kd[2])]
    trainer = budget_spec(budget, device, **({} if teacher is None else
                                             {"kd": (kd[1], kd[2]), "kd_loss": kd[0]})).trainer_name
    fold = results / dataset_name / f"{trainer}__{PLANS_IDENTIFIER}__{configurations.split(',')[0]}" / "fold_0"
    if not (fold / "validation" / "summary.json").is_file():
        train_in(results, dataset_name, configurations, budget, device, ["--seed", str(seed), *kd_args])
    return trained_metrics(dataset_name, fold, trainer)


def train_in(results: Path, dataset_name: str, configurations: str, budget: dict, device: str,
             extra: list[str]) -> None:
    """``xtiny train -c configurations`` (MONAI, ``budget``, no validation iterations, ``extra`` flags) in a
    subprocess whose nnU-Net results folder is ``results``; SystemExit with its stderr when it fails."""
    import subprocess

    command = [sys.executable, "-m", "xtiny", "train", "-d", dataset_name, "-c", configurations, "--backend", "monai",
               "--epochs", str(budget["epochs"]), "--iterations", str(budget["iterations"]), "--val-iterations", "0",
               "--device", device, *extra]
    proc = subprocess.run(command, env={**os.environ, "nnUNet_results": str(results)}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-2000:]}")


def run_dataset(label: str, budget_name: str, args) -> dict:
    from bench_selection import BUDGETS, DATASETS, prepare_dataset

    from xtiny.family import add_width_family
    from xtiny.search import SearchSettings, run_search

    budget = BUDGETS[budget_name]
    _, _, base = DATASETS[label]
    if base != "2d":
        raise SystemExit(f"{label}: the distillation bench trains 2d datasets (MONAI backend) only")
    work = Path(args.work)
    name = prepare_dataset(label, budget, work)
    add_width_family(name, "2d")
    pick = run_search(name, "2d", SearchSettings(k=budget["k"], seeds=1, device=args.device, confidence=None),
                      progress=False)["chosen"]
    teacher, online = online_family(name, pick, budget, args.device, args.online)
    plain_family = in_own_results(name, f"{pick},2d", budget, args.device, work / "results_plain_family")
    alone = train(name, pick, budget, args.device)
    seeds = [alone] + [in_own_results(name, pick, budget, args.device, work / f"results_seed{seed}", seed=seed)
                       for seed in EXTRA_SEEDS]
    gap = teacher["dice"] - alone["dice"]
    runs = []
    for loss, alpha, temperature in args.grid:
        kd = train(name, pick, budget, args.device, teacher=teacher["checkpoint"], loss=loss, alpha=alpha,
                   temperature=temperature)
        student_seeds = [kd] + [in_own_results(name, pick, budget, args.device, work / f"results_seed{seed}",
                                               seed=seed, teacher=teacher["checkpoint"], kd=(loss, alpha, temperature))
                                for seed in args.student_seeds]
        runs.append({"loss": loss, "alpha": alpha, "temperature": temperature, "mode": "offline", **kd,
                     **_gain(kd, alone, gap),
                     **(_seed_verdict(student_seeds, seeds, teacher) if args.student_seeds else {}),
                     "extra_seconds_share": round(kd["seconds"] / alone["seconds"] - 1, 3)
                     if kd["seconds"] and alone["seconds"] else None})
        print(f"[distill] {label}: {loss} alpha {alpha:g} T {temperature:g}: Dice {100 * kd['dice']:.2f} % "
              f"(alone {100 * alone['dice']:.2f}, teacher {100 * teacher['dice']:.2f})", flush=True)
    loss, alpha, temperature = args.online
    online_run = {"loss": loss, "alpha": alpha, "temperature": temperature, "mode": "online",
                  "warmup": ONLINE_WARMUP, **online, **_gain(online, alone, gap),
                  "extra_seconds_share": round(online["family_seconds"] / plain_family["family_seconds"] - 1, 3)
                  if online["family_seconds"] and plain_family["family_seconds"] else None}
    spread = [100 * r["dice"] for r in seeds]
    return {"dataset": name, "label": label, "pick": pick, "teacher": teacher, "alone": alone,
            "alone_seeds": seeds, "seed_spread_points": round(max(spread) - min(spread), 2),
            "plain_family": plain_family, "kd": runs, "online": online_run}


def _seed_verdict(students: list[dict], alone_seeds: list[dict], teacher: dict) -> dict:
    """A KD setting over the same seeds as the plain pick: the students' Dice per seed, the gain of the means, the gap
    closed by the means, and whether every student beats every plain seed (``separated``: beyond the seed spread)."""
    kd = [100 * r["dice"] for r in students]
    alone = [100 * r["dice"] for r in alone_seeds]
    kd_mean, alone_mean = sum(kd) / len(kd), sum(alone) / len(alone)
    gap = 100 * teacher["dice"] - alone_mean
    return {"seed_dice": [round(d, 2) for d in kd], "mean_gain_points": round(kd_mean - alone_mean, 2),
            "mean_gap_closed": round((kd_mean - alone_mean) / gap, 3) if gap > 0.5 else None,
            "separated": min(kd) > max(alone), "seed_runs": students[1:]}


def _gain(kd: dict, alone: dict, gap: float) -> dict:
    return {"gain_points": round(100 * (kd["dice"] - alone["dice"]), 2),
            "gap_closed": round((kd["dice"] - alone["dice"]) / gap, 3) if gap > 0.005 else None}


def _setting(run: dict) -> tuple:
    return run["loss"], run["alpha"], run["temperature"]


def main() -> int:
    from common import load_average

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["bus", "cardiac", "fundus", "mni"])
    ap.add_argument("--budget", default="small", choices=["small", "small4x", "gpu1k", "paper"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--smoke", action="store_true", help="minimal sizes and one grid point; results marked smoke")
    ap.add_argument("--work", default=None, help="work folder (default /tmp/xtiny-bench-distill-<budget>)")
    ap.add_argument("--suffix", default=None,
                    help="result name distill_<budget>_<suffix>_<device> (a dataset measured on its own, beside an "
                         "earlier result it must not replace)")
    ap.add_argument("--grid", nargs="+", default=None, metavar="LOSS:ALPHA:T",
                    help="the offline settings (default the GRID: " + " ".join(f"{g[0]}:{g[1]:g}:{g[2]:g}" for g in GRID)
                         + "); a subset for a dataset measured on its own")
    ap.add_argument("--online", default=None, metavar="LOSS:ALPHA:T",
                    help=f"the online family run's setting (default {ONLINE[0]}:{ONLINE[1]:g}:{ONLINE[2]:g})")
    ap.add_argument("--student-seeds", nargs="*", type=int, default=[], metavar="SEED",
                    help="also train every offline student with these seeds (each in its own results folder, beside "
                         "the plain pick's seeds 1 and 2), to tell a KD gain from seed noise")
    args = ap.parse_args()
    args.online = ONLINE if args.online is None else _grid_point(args.online)
    args.grid = SMOKE_GRID if args.smoke else GRID if args.grid is None else [_grid_point(g) for g in args.grid]
    budget_name = "smoke" if args.smoke else args.budget
    args.work = args.work or f"/tmp/xtiny-bench-distill-{budget_name}"
    os.environ.setdefault("MPLBACKEND", "Agg")
    load_start, started = load_average(), time.perf_counter()
    results = []
    for label in args.datasets:  # written after every dataset: a cut run keeps what it finished
        results.append(run_dataset(label, budget_name, args))
        path, best = write_distill_result(results, budget_name, args, load_start, started)
    print(f"[distill] wrote {path}; best {best[0]} alpha {best[1]:g}, T {best[2]:g}", flush=True)
    return 0


def write_distill_result(results: list[dict], budget_name: str, args, load_start, started: float):
    """The table, the best setting and the notes of ``results`` (the datasets done so far) as the bench's JSON."""
    from bench_selection import BUDGETS
    from common import device_tag, few_patients_note, load_average, write_result

    grid = args.grid
    mean_gain = {g: sum(next(r for r in res["kd"] if _setting(r) == g)["gain_points"] for res in results)
                 / len(results) for g in grid}
    best = max(grid, key=lambda g: mean_gain[g])
    rows, seed_names = [], "/".join(map(str, [0, *args.student_seeds]))
    for res in results:
        t, a = res["teacher"], res["alone"]
        rows.append([res["label"], "teacher 2d (online family)", None, None, None, round(100 * t["dice"], 2),
                     _r(t["hd95"]), t["seconds"], None, None, None])
        rows.append([res["label"], f"{res['pick']} alone (seeds 0/1/2)", None, None, None,
                     " / ".join(f"{100 * s['dice']:.2f}" for s in res["alone_seeds"]), _r(a["hd95"]), a["seconds"],
                     0.0, 0.0, 0.0])
        for r in [*res["kd"], res["online"]]:
            dice = " / ".join(f"{d:.2f}" for d in r["seed_dice"]) if r.get("seed_dice") else round(100 * r["dice"], 2)
            rows.append([res["label"], f"{res['pick']} + KD {r['mode']}" + (f" (seeds {seed_names})" if r.get("seed_dice")
                                                                           else ""),
                         r["loss"], r["alpha"], r["temperature"], dice, _r(r["hd95"]), r["seconds"], r["gain_points"], r["gap_closed"],
                         r["extra_seconds_share"]])
    best_runs = [next(r for r in res["kd"] if _setting(r) == best) for res in results]
    beyond = [r for r, res in zip(best_runs, results, strict=True)
              if (r["gap_closed"] or 0) >= 0.5 and r["gain_points"] > res["seed_spread_points"]]
    online_beyond = [res for res in results if (res["online"]["gap_closed"] or 0) >= 0.5
                     and res["online"]["gain_points"] > res["seed_spread_points"]]
    budget = BUDGETS[budget_name]
    notes = [
        f"MONAI backend, {budget['epochs']} epochs x {budget['iterations']} iterations for every run (families, pick "
        "alone, every KD student), fold 0; Dice and HD95 (pixels/voxels in raw geometry) on the fold-0 validation "
        "cases, foreground mean. The teacher is the 2d of the online family run [pick, 2d] (it trains as a plain "
        "network there); the offline students distil that checkpoint.",
        "Gap closed = (Dice KD - Dice alone, seed 0) / (Dice teacher - Dice alone) (blank when the teacher is not 0.5 "
        "points above the pick). Seed spread = max - min Dice of the pick alone over seeds 0, 1, 2. Offline extra s = "
        "KD training seconds / pick-alone seconds - 1 (the teacher's forward passes); online extra s = the online "
        "family run's seconds / the plain family run's seconds - 1 (same members, same budget). Sequential runs on one "
        "machine: load shifts the seconds.",
        f"Online KD: {args.online[0]}, alpha {args.online[1]:g}, T {args.online[2]:g}, warm-up {ONLINE_WARMUP:g} of "
        "the schedule" + (" (fixed before any result)." if args.online == ONLINE
                          else " (chosen as the best offline setting of an earlier run)."),
        f"Best offline setting by mean Dice gain over the datasets: {best[0]} alpha {best[1]:g}, T {best[2]:g} "
        f"({mean_gain[best]:+.2f} points); mean gains: "
        + ", ".join(f"{g[0]} a{g[1]:g}/T{g[2]:g} {v:+.2f}" for g, v in mean_gain.items()) + ".",
        f"Closing at least half of the gap, by more than the seed spread: best offline setting on {len(beyond)} of "
        f"{len(results)} datasets, online KD on {len(online_beyond)} of {len(results)}.",
        f"Wall time {time.perf_counter() - started:.0f} s; load average {load_start} at start, {load_average()} at end.",
    ]
    seeded = [(res, r) for res in results for r in res["kd"] if r.get("seed_dice")]
    if seeded:
        settled = [res["label"] for res, r in seeded if _setting(r) == best and (r["mean_gap_closed"] or 0) >= 0.5
                   and r["separated"]]
        mean_of_means = {g: sum(r["mean_gain_points"] for _res, r in seeded if _setting(r) == g)
                         / max(1, sum(_setting(r) == g for _res, r in seeded)) for g in grid}
        notes.append(
            f"Over seeds (every student trained with the plain pick's seeds 0, {', '.join(map(str, args.student_seeds))}):"
            f" the best setting closes at least half of the gap of the means, with every student above every plain "
            f"seed, on {len(settled)} of {len(results)} datasets ({', '.join(settled) or 'none'}). Mean gain of the "
            "means: " + ", ".join(f"{g[0]} a{g[1]:g}/T{g[2]:g} {v:+.2f}" for g, v in mean_of_means.items()) + ".")
    if args.smoke:
        notes.insert(0, "SMOKE RUN: minimal sizes to prove the script works; the figures carry no meaning.")
    tag = device_tag(args.device)
    few = [note for res in results if (note := few_patients_note(res["dataset"]))]
    notes[:0] = few
    patient_tables = [{"title": f"{res['label']}: Dice % per validation patient (slices pooled)",
                       "header": ["model", *sorted(res["teacher"]["per_patient"])],
                       "rows": [[label, *[run.get("per_patient", {}).get(p) for p in sorted(res["teacher"]["per_patient"])]]
                                for label, run in _runs_by_label(res)]}
                      for res in results if res["teacher"].get("per_patient")]
    seed_table = [{"title": f"Over seeds: the plain pick (seeds 0/1/2) and each distilled student (seeds {seed_names})",
                   "header": ["dataset", "setting", "alone mean %", "KD mean %", "teacher %", "gain of means",
                              "gap closed (means)", "every KD seed > every plain seed"],
                   "rows": [[res["label"], f"{r['loss']} a{r['alpha']:g}/T{r['temperature']:g}",
                             round(sum(100 * a["dice"] for a in res["alone_seeds"]) / len(res["alone_seeds"]), 2),
                             round(sum(r["seed_dice"]) / len(r["seed_dice"]), 2), round(100 * res["teacher"]["dice"], 2),
                             r["mean_gain_points"], r["mean_gap_closed"], "yes" if r["separated"] else "no"]
                            for res, r in seeded]}] if seeded else []
    patient_tables = seed_table + patient_tables
    suffix = f"_{args.suffix}" if args.suffix else ""
    path = write_result(f"distill{suffix}_{tag}_smoke" if args.smoke else f"distill_{budget_name}{suffix}_{tag}",
                        f"Distillation: the XTiny pick alone vs distilled from the full 2d, budget {budget_name}, {tag}",
                        ["dataset", "model", "loss", "alpha", "T", "Dice %", "HD95", "train s", "gain (pts)",
                         "gap closed", "extra s (share)"], rows, notes=notes, extra_tables=patient_tables,
                        best={"loss": best[0], "alpha": best[1], "temperature": best[2]},
                        mean_gain_points={f"{g[0]}/{g[1]:g}/{g[2]:g}": v for g, v in mean_gain.items()},
                        runs=results, budget=budget_name, budget_settings=budget)
    return path, best


def _runs_by_label(res: dict) -> list[tuple[str, dict]]:
    """Every run of one dataset's result, named as in the main table."""
    return [("teacher 2d", res["teacher"]),
            *[(f"{res['pick']} alone, seed {i}", run) for i, run in enumerate(res["alone_seeds"])],
            *[(f"{res['pick']} + KD {r['mode']} {r['loss']} a{r['alpha']:g}/T{r['temperature']:g}", r)
              for r in [*res["kd"], res["online"]]]]


def _grid_point(text: str) -> tuple[str, float, float]:
    loss, alpha, temperature = text.split(":")
    return loss, float(alpha), float(temperature)


def _r(value) -> float | None:
    return None if value is None else round(float(value), 2)


if __name__ == "__main__":
    sys.exit(main())
