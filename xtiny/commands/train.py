"""`xtiny train`: train one configuration with nnU-Net's trainer (default) or the MONAI backend."""

import argparse

HELP = "train a configuration (auto = the width search's pick) with nnU-Net's trainer or MONAI"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-d", "--dataset", required=True, help="dataset id or DatasetXXX_Name")
    parser.add_argument("-c", "--configuration", default="auto",
                        help="configuration in the plans (e.g. 2d_xtiny8, 2d), 'auto' = the last search's pick, or a "
                             "baseline (unext, cmunext_s, tinyunet; --backend monai, trained on the 2d data)")
    parser.add_argument("--epochs", type=int, default=1000, help="epoch budget (nnU-Net default 1000)")
    parser.add_argument("--iterations", type=int, default=None, help="training iterations per epoch (default 250)")
    parser.add_argument("--val-iterations", type=int, default=None,
                        help="validation iterations per epoch (default 50)")
    parser.add_argument("--fold", default="0", help="cross-validation fold 0-4 or 'all'")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--backend", default="nnunet", choices=["nnunet", "monai"])
    parser.add_argument("--continue", dest="continue_training", action="store_true",
                        help="continue an interrupted run from its checkpoint (same budget)")
    add_teacher_arguments(parser, "this model")


def add_teacher_arguments(parser: argparse.ArgumentParser, student: str) -> None:
    """``--teacher``, ``--kd-alpha``, ``--kd-temperature`` (shared with `xtiny confirm`); read with
    :func:`teacher_options`."""
    parser.add_argument("--teacher", default=None, metavar="CONFIG_OR_CHECKPOINT",
                        help=f"distil a trained teacher into {student}: a configuration of the same dataset trained on "
                             "the same fold (e.g. 2d) or a checkpoint path")
    parser.add_argument("--kd-alpha", type=float, default=None,
                        help="weight of the distillation term in [0, 1] (default: the bench's best, see BENCHMARKS.md)")
    parser.add_argument("--kd-temperature", type=float, default=None,
                        help="softmax temperature T > 0 of the distillation term (default: the bench's best)")


def teacher_options(args: argparse.Namespace) -> dict:
    """``teacher``, ``kd_alpha``, ``kd_temperature`` for the training functions (the bench's defaults where unset),
    or ``{}`` without --teacher; XTinyError for KD settings without a teacher."""
    from xtiny.errors import XTinyError
    from xtiny.training.distill import KD_DEFAULT_ALPHA, KD_DEFAULT_TEMPERATURE

    if args.teacher is None and (args.kd_alpha is not None or args.kd_temperature is not None):
        raise XTinyError("--kd-alpha / --kd-temperature set, but no --teacher to distil from.",
                         fix="add --teacher 2d (a trained configuration of this dataset) or a checkpoint path.")
    return {} if args.teacher is None else {
        "teacher": args.teacher, "kd_alpha": KD_DEFAULT_ALPHA if args.kd_alpha is None else args.kd_alpha,
        "kd_temperature": KD_DEFAULT_TEMPERATURE if args.kd_temperature is None else args.kd_temperature}


def run(args: argparse.Namespace) -> int:
    from xtiny.nnunet.names import resolve_dataset_name
    from xtiny.paths import ensure_nnunet_env
    from xtiny.training import resolve_auto_configuration

    ensure_nnunet_env()
    name = resolve_dataset_name(args.dataset)
    configuration = resolve_auto_configuration(name, args.configuration)
    from xtiny.models import is_baseline

    if is_baseline(configuration) and args.backend != "monai":
        from xtiny.errors import XTinyError

        raise XTinyError(f"'{configuration}' is a baseline architecture, not an nnU-Net plans configuration; "
                         "nnU-Net's trainer cannot build it.",
                         fix=f"train it with the MONAI backend: xtiny train -d {args.dataset} -c {configuration} "
                             "--backend monai (same data, patch and batch size as 2d).")
    kd = teacher_options(args)
    if args.backend == "monai":
        from xtiny.training.monai_backend import train_monai as train
    else:
        from xtiny.training.nnunet_backend import train_nnunet as train
    result = train(name, configuration, fold=args.fold, epochs=args.epochs, iterations_per_epoch=args.iterations,
                   val_iterations=args.val_iterations, device=args.device,
                   continue_training=args.continue_training, **kd)
    dice = "n/a" if result.validation_dice is None else f"{100 * result.validation_dice:.2f}%"
    print(f"trained {configuration} of {name} ({args.backend} backend, {result.trainer_name}, fold {result.fold}) "
          f"in {result.seconds:.0f} s; validation Dice {dice}")
    if kd:
        print(f"distilled from {result.extra['teacher']} (alpha {kd['kd_alpha']:g}, T {kd['kd_temperature']:g})")
    print(f"wrote {result.checkpoint}")
    from xtiny.training.nnunet_cli import nnunet_cli_hint

    print(nnunet_cli_hint(name, configuration, result.trainer_name, result.fold, args.device))
    return 0
