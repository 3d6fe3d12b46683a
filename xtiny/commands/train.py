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
    if args.backend == "monai":
        from xtiny.training.monai_backend import train_monai as train
    else:
        from xtiny.training.nnunet_backend import train_nnunet as train
    result = train(name, configuration, fold=args.fold, epochs=args.epochs, iterations_per_epoch=args.iterations,
                   val_iterations=args.val_iterations, device=args.device,
                   continue_training=args.continue_training)
    dice = "n/a" if result.validation_dice is None else f"{100 * result.validation_dice:.2f}%"
    print(f"trained {configuration} of {name} ({args.backend} backend, {result.trainer_name}, fold {result.fold}) "
          f"in {result.seconds:.0f} s; validation Dice {dice}")
    print(f"wrote {result.checkpoint}")
    from xtiny.training.nnunet_cli import nnunet_cli_hint

    print(nnunet_cli_hint(name, configuration, result.trainer_name, result.fold, args.device))
    return 0
