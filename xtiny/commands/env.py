"""`xtiny env`: the shell lines that give nnU-Net's own CLI what `xtiny` sets inside its process.

``eval "$(xtiny env)"`` exports nnU-Net's three folders (as `xtiny` resolves them: the user's variables, else
``./xtiny_work/...``) and adds XTiny's trainer folder to ``nnUNet_extTrainer``, so ``nnUNetv2_predict``,
``nnUNetv2_train --c``, ``nnUNetv2_find_best_configuration`` and ``nnUNetv2_evaluate_folder`` find every model
XTiny trained, under the trainer name written in its checkpoint.
"""

import argparse

HELP = "print the export lines for nnU-Net's own CLI: eval \"$(xtiny env)\""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shell", choices=["sh", "fish"], default="sh", help="syntax of the lines (default sh)")


def run(args: argparse.Namespace) -> int:
    from xtiny.training.backends.nnunet_cli import nnunet_environment

    for name, value in nnunet_environment().items():
        print(f"set -gx {name} {_quote(value)}" if args.shell == "fish" else f"export {name}={_quote(value)}")
    return 0


def _quote(value: str) -> str:
    import shlex

    return shlex.quote(value)
