"""`xtiny sweep`: train every width candidate with one budget and find the observed knee (the oracle)."""

import argparse
import sys

HELP = "train every width candidate (+ the full 2d) with one budget; compare the observed knee with the probe"


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """``--jobs``, ``--executor`` and the Ray flags (shared with `xtiny confirm`)."""
    parser.add_argument("--jobs", type=int, default=1,
                        help="trainings in parallel (--executor ray without a cluster: the local instance's size)")
    parser.add_argument("--executor", default="local", choices=["local", "ray"],
                        help="local: this machine; ray: a Ray cluster (--ray-address / RAY_ADDRESS) or a local "
                             "Ray instance")
    parser.add_argument("--ray-address", default=None, metavar="ADDR|auto",
                        help="connect to this existing Ray cluster (default: RAY_ADDRESS; unset: a local instance)")
    parser.add_argument("--gpus-per-job", type=float, default=None,
                        help="GPUs Ray gives each training (default 1 with --device cuda, else 0)")
    parser.add_argument("--cpus-per-job", type=float, default=1.0,
                        help="CPUs Ray gives each training; its torch and nnU-Net threads follow (default 1)")


def executor_from_args(args: argparse.Namespace):
    """The :class:`xtiny.training.schedules.sweep.ExecutorChoice` of the parsed --executor, --jobs and Ray flags."""
    from xtiny.training.schedules.ray_cluster import RayOptions
    from xtiny.training.schedules.sweep import ExecutorChoice

    return ExecutorChoice(executor=args.executor, jobs=args.jobs,
                          ray_options=RayOptions(address=args.ray_address, gpus_per_job=args.gpus_per_job,
                                                 cpus_per_job=args.cpus_per_job))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--dataset", required=True, help="dataset id or DatasetXXX_Name")
    parser.add_argument("--epochs", type=int, required=True, help="epoch budget for every candidate")
    parser.add_argument("--iterations", type=int, default=None, help="training iterations per epoch (default 250)")
    parser.add_argument("--val-iterations", type=int, default=None,
                        help="validation iterations per epoch (default 50)")
    parser.add_argument("--backend", default="nnunet", choices=["nnunet", "monai"])
    add_executor_arguments(parser)
    parser.add_argument("--caps", default=None, help="comma-separated width caps (default: the whole family)")
    parser.add_argument("--no-base", action="store_true", help="do not train the full base configuration")
    parser.add_argument("--family-size", type=int, default=None,
                        help="networks per family run (one batch stream); default: the widths split over --jobs "
                             "runs; 1 trains each alone")
    parser.add_argument("--fold", default="0", help="cross-validation fold 0-4 or 'all'")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])


def run(args: argparse.Namespace) -> int:
    from xtiny.commands.train import spec_from_args
    from xtiny.errors import XTinyError
    from xtiny.paths import ensure_nnunet_env
    from xtiny.training.schedules.sweep import run_sweep

    ensure_nnunet_env()
    try:
        caps = [int(c) for c in args.caps.split(",")] if args.caps else None
    except ValueError as exc:
        raise XTinyError(f"--caps '{args.caps}' is not a comma-separated list of integers.",
                         fix="e.g. --caps 32,8,2") from exc
    result = run_sweep(args.dataset, spec_from_args(args), executor=executor_from_args(args), caps=caps,
                       include_base=not args.no_base, family_size=args.family_size)
    for row in result["candidates"]:
        if row.get("failed"):
            print(f"  {row['configuration']:>14}: FAILED: {row['error']}")
            continue
        dice = "n/a" if row["dice"] is None else f"{100 * row['dice']:.2f}%"
        note = " (finished earlier)" if row["skipped_finished"] else ""
        print(f"  {row['configuration']:>14}: {row['params']:>10,d} params, Dice {dice}{note}")
    cmp = result["comparison"]
    print(f"observed knee: {cmp['observed_knee']}; probe pick: {cmp['probe_pick'] or 'no search run'}"
          f"; agree: {cmp['agree']}")
    from xtiny.artifacts import sweep_json_path

    print(f"wrote {sweep_json_path(result['dataset'], result['base_configuration'])} and {result['plot']}")
    if result["failed"]:
        print(f"{len(result['failed'])} training(s) failed: {', '.join(result['failed'])}; rerun the same command "
              "to train only the missing and failed ones.", file=sys.stderr)
        return 1
    return 0
