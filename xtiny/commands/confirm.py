"""`xtiny confirm`: train the probe's pick and its wider neighbours with one budget; step up while wider wins."""

import argparse
import sys

from xtiny.commands.sweep import add_executor_arguments, executor_from_args
from xtiny.commands.train import add_teacher_arguments, spec_from_args

HELP = "confirm the width search's pick by training it against its wider neighbours (writes confirm_<base>.json)"


def add_confirm_arguments(parser: argparse.ArgumentParser, *, prefix: str = "") -> None:
    """``--tolerance`` and ``--max-steps`` (shared with `xtiny run`; ``prefix`` names its confirm-only budget)."""
    from xtiny.training import (  # light: no torch, no numpy
        CONFIRM_BUDGET_FRACTION,
        CONFIRM_MAX_STEPS,
        CONFIRM_NEIGHBOURS,
        CONFIRM_TOLERANCE_POINTS,
    )

    parser.add_argument("--tolerance", type=float, default=CONFIRM_TOLERANCE_POINTS,
                        help=f"Dice points a wider width must win by to be taken (default {CONFIRM_TOLERANCE_POINTS})")
    parser.add_argument("--max-steps", type=int, default=CONFIRM_MAX_STEPS,
                        help=f"at most this many family runs up from the first (default {CONFIRM_MAX_STEPS})")
    parser.add_argument("--neighbours", type=int, default=CONFIRM_NEIGHBOURS,
                        help=f"wider widths trained with the pick in one family run (default {CONFIRM_NEIGHBOURS})")
    parser.add_argument(f"--{prefix}budget-fraction", type=float, default=CONFIRM_BUDGET_FRACTION,
                        help="train each confirm width for this fraction of the pick's epochs, in (0, 1] (default "
                             f"{CONFIRM_BUDGET_FRACTION:g}: set from bench/bench_curves.py, see the README"
                             f"{'; --confirm-epochs overrides it' if prefix else ''})")
    if prefix:
        parser.add_argument(f"--{prefix}epochs", type=int, default=None,
                            help="epochs of each confirm training (default: the pick's budget)")
        parser.add_argument(f"--{prefix}iterations", type=int, default=None,
                            help="iterations per epoch of each confirm training (default: the pick's budget)")


def confirm_settings_from(args: argparse.Namespace, *, start: str | None = None):
    """The :class:`xtiny.training.schedules.confirm.ConfirmSettings` of --tolerance, --max-steps, --neighbours and the
    budget fraction; XTinyError (exit 2) for bad ones."""
    from xtiny.training.schedules.confirm import ConfirmSettings

    fraction = getattr(args, "budget_fraction", None)
    if fraction is None:  # xtiny run: --confirm-budget-fraction, unless --confirm-epochs names confirm's budget
        fraction = 1.0 if getattr(args, "confirm_epochs", None) else args.confirm_budget_fraction
    return ConfirmSettings(tolerance=args.tolerance, max_steps=args.max_steps, neighbours=args.neighbours,
                           start=start, budget_fraction=fraction)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--dataset", required=True, help="dataset id or DatasetXXX_Name")
    parser.add_argument("-c", "--configuration", default="2d", help="base configuration of the search (2d)")
    parser.add_argument("--epochs", type=int, default=1000,
                        help="the budget the pick will be trained with (default 1000); each confirm training runs "
                             "--budget-fraction of it")
    parser.add_argument("--iterations", type=int, default=None, help="training iterations per epoch (default 250)")
    parser.add_argument("--val-iterations", type=int, default=None,
                        help="validation iterations per epoch (default 50)")
    parser.add_argument("--start", default=None, help="configuration to start from (default: the probe's pick)")
    add_confirm_arguments(parser)
    parser.add_argument("--backend", default="nnunet", choices=["nnunet", "monai"])
    parser.add_argument("--fold", default="0", help="cross-validation fold 0-4 or 'all'")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    add_executor_arguments(parser)
    add_teacher_arguments(parser, "every candidate (each trains as its KD student)")


def run(args: argparse.Namespace) -> int:
    from xtiny.training.schedules.confirm import run_confirm

    record = run_confirm(args.dataset, args.configuration, spec_from_args(args),
                         settings=confirm_settings_from(args, start=args.start),
                         executor=executor_from_args(args), teacher=args.teacher)
    if record["confirmed"] is None:
        print(f"confirm stopped: {record['stopped_because']}; rerun the same command to retrain what failed "
              f"(finished trainings are read back). Wrote {record['confirm_json']}", file=sys.stderr)
        return 1
    costs = record["costs"]
    print(f"probe pick: {record['probe_pick']}; confirmed: {record['confirmed']} ({record['stopped_because']})")
    print(f"{len(record['trainings'])} trainings in {len(record['family_runs'])} family runs ({record['trainer']}): "
          f"{costs['spent_s']:.0f} s spent now, "
          f"{costs['extra_s']:.0f} s beyond the confirmed width's own training")
    if record["teacher"]:
        print(f"every training distilled {record['teacher']['configuration']} ({record['teacher']['checkpoint']}; "
              f"{record['kd_loss']} KD, alpha {record['kd_alpha']:g}, T {record['kd_temperature']:g})")
    print(f"wrote {record['confirm_json']} and {record['confirm_png']}")
    return 0
