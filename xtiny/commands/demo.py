"""`xtiny demo`: `xtiny run` on a built-in dataset, with training budgets calibrated to finish on this machine.

The job: validate → plan → search run first; then 5 training iterations of the pick, its wider neighbour and the
full nnU-Net are timed here, and the epochs are set so that confirm (the pick against its wider neighbour),
the baseline and the rest fit ``--minutes``. Every net gets the same number of iterations (equal iterations),
which the report states next to every Dice.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xtiny.records.width_search import SearchRecord

HELP = "the whole job on a built-in dataset (synthetic, or real brain MRI with --dataset mni), sized to fit --minutes"

# own ids, never one that `xtiny datasets` writes; lungct takes 512 (3D volumes) and 513 (the 2D slices it trains on)
DEMO_IDS = {"default": 500, "quick": 508, "mni": 511, "lungct": 512}
PROFILES = {
    "default": {"cases": 60, "size": 128, "k": 16, "seeds": 2, "val_iterations": 4, "iterations": 40, "minutes": 9.0},
    "quick": {"cases": 30, "size": 96, "k": 8, "seeds": 1, "val_iterations": 2, "iterations": 20, "minutes": 4.0},
}
# lungct's slices on a 2 mm grid: at 1 mm (batch 4 of 224 px) the full net's step costs ~3 s on 2 cores and the
# demo planned 13.5 min (by hand) with the fewest iterations it allows
LUNGCT_IN_PLANE_STEP = 2
RESERVE_SECONDS = 30.0  # evaluate, export, report: plus 40 iterations of the full net (its predictions dominate)
START_SECONDS = 10.0  # per training: data loaders, checkpoints, nnU-Net's final validation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="smaller data and a 4-minute target")
    parser.add_argument("--dataset", default="bus",
                        help="a synthetic kind (default bus: breast ultrasound), 'mni' (real brain MRI slices, "
                             "nilearn's MNI152 template at 2 mm, 3 tissue classes) or 'lungct' (real lung-cancer CT "
                             "slices with expert tumour contours, 6 patients, folds by patient; see xtiny datasets "
                             "lungct)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="wall-clock target after install (default 9, --quick 4)")
    parser.add_argument("--no-baseline", action="store_true", help="skip training the full nnU-Net 2d")
    parser.add_argument("--recalibrate", action="store_true",
                        help="time the nets again and make a new plan (a rerun reuses the recorded plan, so the same "
                             "command skips every finished stage; another --minutes also makes a new plan)")
    parser.add_argument("--verbose", action="store_true", help="show everything nnU-Net prints")


def _dataset(args: argparse.Namespace, profile: str, p: dict):
    from xtiny.paths import nnunet_dirs

    raw = nnunet_dirs().raw
    if args.dataset == "mni":
        from xtiny.datasets.mni import build_mni_dataset

        existing = sorted(raw.glob(f"Dataset{DEMO_IDS['mni']:03d}_*"))
        return existing[0] if existing else build_mni_dataset(raw_dir=raw, dataset_id=DEMO_IDS["mni"], resolution=2,
                                                             preview=True)
    if args.dataset == "lungct":
        from xtiny.datasets.lungct import build_lungct_dataset

        existing = sorted(raw.glob(f"Dataset{DEMO_IDS['lungct'] + 1:03d}_*"))
        if existing:
            _check_lungct_grid(existing[0])
        return existing[0] if existing else build_lungct_dataset(raw_dir=raw, dataset_id=DEMO_IDS["lungct"],
                                                                 in_plane_step=LUNGCT_IN_PLANE_STEP).slices
    from xtiny.datasets.synth import generate_dataset

    return generate_dataset(args.dataset, dataset_id=DEMO_IDS[profile], num_cases=p["cases"], seed=0, size=p["size"],
                            raw_dir=raw, preview=True)


def _check_lungct_grid(folder) -> None:  # noqa: ANN001 - Path
    """The demo's lungct slices must be on its grid (an older demo wrote them at 1 mm)."""
    from xtiny.atomic import read_json
    from xtiny.errors import XTinyError

    meta = read_json(folder / "dataset.json", "dataset.json").get("xtiny") or {}
    if meta.get("in_plane_mm") != float(LUNGCT_IN_PLANE_STEP):
        raise XTinyError(f"{folder} holds lungct slices at {meta.get('in_plane_mm', 1.0)} mm; the demo trains on "
                         f"{LUNGCT_IN_PLANE_STEP} mm slices.",
                         fix=f"remove {folder} and {folder.parent / folder.name.replace('LungCT2D', 'LungCT')} (and "
                             "their xtiny results) and run the demo again: it rebuilds them.")


def _wider(search: SearchRecord, pick: str) -> str | None:
    names = [c["name"] for c in sorted(search.candidates, key=lambda c: -c["cap"])]
    index = names.index(pick)
    return names[index - 1] if index > 0 else None


def run(args: argparse.Namespace) -> int:
    import time

    from xtiny.artifacts import xtiny_dir
    from xtiny.atomic import atomic_write_json, read_json
    from xtiny.console import say
    from xtiny.pipeline import RunOptions, run_pipeline
    from xtiny.pipeline_stages import STAGES
    from xtiny.records.width_search import read_search_record
    from xtiny.training.backends.calibrate import seconds_per_iteration

    started = time.perf_counter()
    profile = "quick" if args.quick else "default"
    p = PROFILES[profile]
    minutes = args.minutes or p["minutes"]
    folder = _dataset(args, profile, p)
    say(f"[demo] dataset {folder.name} ({folder}); target {minutes:g} min on this machine")
    say("[demo] stages: validate, plan, search; then 5 timed training iterations per net set the budgets of "
        "confirm, train_pick, train_baseline; then evaluate, export, report")
    opts = RunOptions(dataset=folder.name, k=p["k"], seeds=p["seeds"], epochs=1, iterations_per_epoch=p["iterations"],
                      val_iterations=p["val_iterations"], with_baseline=not args.no_baseline, num_processes=2,
                      confirm_max_steps=1, confirm_neighbours=1, verbose=args.verbose)
    first = run_pipeline(opts, STAGES, until="search")  # a failure here still writes the report
    search = read_search_record(first["search"]["search_json_path"])
    pick = search.chosen
    nets = [n for n in (pick, _wider(search, pick), None if args.no_baseline else "2d") if n]
    plan_key = {"profile": profile, "minutes": minutes, "pick": pick, "nets": nets,
                "iterations": p["iterations"]}
    plan_path = xtiny_dir(folder.name) / "demo_plan.json"
    recorded = read_json(plan_path, "demo plan") if plan_path.is_file() else None
    if recorded is not None and recorded.get("key") == plan_key and not args.recalibrate:
        per_iteration, opts.epochs, elapsed = recorded["per_iteration"], recorded["epochs"], recorded["elapsed"]
        say(f"[demo] reusing the plan recorded in {plan_path} (--recalibrate times the nets again)")
    else:
        say(f"[demo] timing 5 training iterations of {', '.join(nets)} on this machine...")
        per_iteration = {n: seconds_per_iteration(folder.name, n) for n in nets}
        elapsed = time.perf_counter() - started
        reserve = RESERVE_SECONDS + 40 * per_iteration.get("2d", per_iteration[pick])
        budget = minutes * 60 - elapsed - reserve - START_SECONDS * len(nets)
        iterations = max(2 * p["iterations"], int(budget / sum(per_iteration.values())))
        opts.epochs = max(2, iterations // p["iterations"])
        atomic_write_json(plan_path, {"key": plan_key, "per_iteration": per_iteration, "epochs": opts.epochs,
                                      "elapsed": round(elapsed, 2)})
    reserve = RESERVE_SECONDS + 40 * per_iteration.get("2d", per_iteration[pick])
    total = opts.epochs * p["iterations"]
    say(f"[demo] plan: every net trains {opts.epochs} epochs x {p['iterations']} iterations = {total} iterations "
        "(equal iterations), together in one family run (one batch stream) in the confirm stage")
    for name, seconds in per_iteration.items():
        role = {pick: "probe's pick (confirm, reused by train_pick)", "2d": "full nnU-Net 2d (baseline)"}.get(
            name, "its wider neighbour (confirm)")
        say(f"[demo]   {name:<12} {seconds:.3f} s/iteration -> ~{total * seconds + START_SECONDS:.0f} s  {role}")
    say(f"[demo]   evaluate, export, report ~{reserve:.0f} s; expected end after ~"
        f"{(elapsed + reserve + sum(total * s + START_SECONDS for s in per_iteration.values())) / 60:.1f} min")
    results = run_pipeline(opts, STAGES)
    summary = read_json(results["evaluate"]["summary_path"], "evaluation summary")
    say(f"[demo] probe's pick {pick}, confirmed {results['confirm']['confirmed']}")
    for name, model in summary["models"].items():
        dice = model["foreground"]["dice"]["mean"]
        training = model.get("training") or {}
        say(f"[demo]   {model.get('display', name)} ({name}): Dice {100 * dice:.1f} % on {summary['num_cases']} held-out "
            f"cases after {training.get('iterations', '?')} iterations, {training.get('seconds') or 0:.0f} s")
        if model.get("per_patient"):
            say("[demo]     per patient: " + ", ".join(
                f"{patient} {100 * v['dice']:.1f} % ({v['cases']} slices)" if v["dice"] is not None else
                f"{patient} n/a" for patient, v in model["per_patient"].items()))
    trained = summary["models"].get(results["confirm"]["confirmed"]), summary["models"].get("2d")
    if all(trained) and trained[0] is not trained[1] and \
            (trained[0].get("cost") or {}).get("params") == (trained[1].get("cost") or {}).get("params"):
        say(f"[demo] note: {results['confirm']['confirmed']} caps no stage of the full 2d: it is the full nnU-Net "
            "(no narrower width held at this budget), and the Dice between the two is training noise")
    report = results["report"]["report_path"]
    say(f"[demo] done in {(time.perf_counter() - started) / 60:.1f} min; report: {report}")
    say(f"[demo] open it: python3 -m webbrowser file://{report}")
    return 0
