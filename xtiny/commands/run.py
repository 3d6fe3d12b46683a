"""`xtiny run`: the whole workflow on one dataset, resuming where the last run stopped."""

from __future__ import annotations

import argparse

from xtiny.pipeline import DEFAULT_EXPORT_FORMATS  # light: stdlib and xtiny's base utilities only

HELP = "validate → plan & preprocess → search → train the pick → evaluate → export → report (rerun = resume)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--dataset", required=True, help="dataset id or DatasetXXX_Name")
    add_budget_arguments(parser)


def add_budget_arguments(parser: argparse.ArgumentParser, *, epochs: int = 100) -> None:
    """Options shared by `run` and `demo`."""
    parser.add_argument("-c", "--configuration", default="2d", help="base nnU-Net configuration (2d or 3d_fullres)")
    parser.add_argument("--fold", type=int, default=0, help="nnU-Net fold to train and evaluate (default 0)")
    from xtiny.commands.search import add_caps_argument, add_sampling_arguments

    add_sampling_arguments(parser)
    parser.add_argument("--rule", default="tv", help="knee rule (default tv, the paper's)")
    add_caps_argument(parser)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--epochs", type=int, default=epochs, help=f"epochs for the pick (default {epochs})")
    parser.add_argument("--iterations", type=int, default=None, help="iterations per epoch (nnU-Net: 250)")
    parser.add_argument("--val-iterations", type=int, default=None, help="validation iterations per epoch (50)")
    parser.add_argument("--with-baseline", action="store_true", help="also train the full base configuration")
    parser.add_argument("--baseline-epochs", type=int, default=None, help="epochs for the baseline (default: same)")
    parser.add_argument("--budget", default="equal-iterations", choices=["equal-iterations", "equal-time"],
                        help="baseline vs pick: the same iterations (default) or the same training time on this "
                             "machine (timed here)")
    parser.add_argument("--verbose", action="store_true",
                        help="show everything nnU-Net and the other libraries print (default: one line per stage, "
                             "their output in the run's logs/ folder)")
    parser.add_argument("--no-confirm", action="store_true",
                        help="train the probe's pick as is, without confirming it against its wider neighbours")
    from xtiny.commands.confirm import add_confirm_arguments

    add_confirm_arguments(parser, prefix="confirm-")
    parser.add_argument("--distill", action="store_true",
                        help="also train the full base configuration and distil it into the pick: the report shows "
                             "the pick with and without distillation next to its teacher")
    parser.add_argument("--kd-alpha", type=float, default=None, help="distillation weight in [0, 1] (bench default)")
    parser.add_argument("--kd-temperature", type=float, default=None, help="distillation temperature > 0")
    from xtiny.commands.train import add_kd_loss_argument

    add_kd_loss_argument(parser)
    parser.add_argument("--formats", default=",".join(DEFAULT_EXPORT_FORMATS),
                        help=f"export formats (default {','.join(DEFAULT_EXPORT_FORMATS)})")


def options_from_args(args: argparse.Namespace, dataset: str):
    from xtiny.commands.search import sampling_options
    from xtiny.pipeline import RunOptions

    return RunOptions(dataset=dataset, configuration=args.configuration, fold=args.fold, **sampling_options(args),
                      rule=args.rule, caps=None if args.caps is None else tuple(args.caps), device=args.device, epochs=args.epochs, iterations_per_epoch=args.iterations,
                      val_iterations=args.val_iterations, with_baseline=args.with_baseline,
                      baseline_epochs=args.baseline_epochs,
                      export_formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
                      verbose=args.verbose, budget=args.budget, confirm=not args.no_confirm, confirm_tolerance=args.tolerance, confirm_max_steps=args.max_steps,
                      confirm_neighbours=args.neighbours,
                      confirm_epochs=args.confirm_epochs, confirm_iterations_per_epoch=args.confirm_iterations,
                      confirm_budget_fraction=args.confirm_budget_fraction,
                      distill=args.distill, **_kd_settings(args))


def _kd_settings(args: argparse.Namespace) -> dict:
    """``kd_alpha`` / ``kd_temperature`` / ``kd_loss`` given on the command line (the rest stay RunOptions'
    defaults)."""
    return {k: v for k, v in (("kd_alpha", args.kd_alpha), ("kd_temperature", args.kd_temperature),
                              ("kd_loss", args.kd_loss)) if v is not None}


def run(args: argparse.Namespace) -> int:
    from xtiny.commands.confirm import confirm_settings_from
    from xtiny.pipeline import run_pipeline
    from xtiny.pipeline_stages import STAGES, train_spec

    confirm_settings_from(args)  # bad flags fail before any work
    if args.caps is not None:
        from xtiny.family import normalize_caps

        normalize_caps(args.caps, [])
    if args.kd_alpha is not None or args.kd_temperature is not None or args.kd_loss is not None:
        from xtiny.errors import XTinyError
        from xtiny.pipeline import RunOptions
        from xtiny.training.backends.distill import check_kd_settings

        if not args.distill:
            raise XTinyError("--kd-loss / --kd-alpha / --kd-temperature set without --distill.", fix="add --distill.")
        defaults = RunOptions(dataset="")
        check_kd_settings(args.kd_alpha if args.kd_alpha is not None else defaults.kd_alpha,
                          args.kd_temperature if args.kd_temperature is not None else defaults.kd_temperature,
                          args.kd_loss if args.kd_loss is not None else defaults.kd_loss)

    options = options_from_args(args, args.dataset)
    train_spec(options, options.epochs, options.iterations_per_epoch)  # so does a bad budget
    results = run_pipeline(options, STAGES)
    print(f"probe pick: {results['search']['chosen']}")
    if "confirm" in results:
        print(f"confirmed pick (trained): {results['confirm']['confirmed']}")
    print(f"report: {results['report']['report_path']}")
    return 0
