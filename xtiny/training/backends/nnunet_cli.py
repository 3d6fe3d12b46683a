"""nnU-Net's own command line on XTiny's models: the environment it needs and the exact commands.

XTiny's budget trainers (``nnUNetTrainer_XTiny_*``, ``XTinyMonaiTrainer*``) live in
:data:`xtiny.training.TRAINERS_DIR`; nnU-Net finds trainers outside its package through ``nnUNet_extTrainer``.
``xtiny`` sets it inside its own process; a plain shell gets it from ``eval "$(xtiny env)"``.
"""

from __future__ import annotations

import os
import shlex

from xtiny.nnunet.names import dataset_id_of
from xtiny.paths import ENV_NAMES, ensure_nnunet_env
from xtiny.training import register_trainers

ENV_COMMAND = 'eval "$(xtiny env)"'


def nnunet_environment() -> dict[str, str]:
    """``nnUNet_raw/_preprocessed/_results`` as XTiny resolves them, and ``nnUNet_extTrainer`` with XTiny's trainers."""
    ensure_nnunet_env(quiet=True)
    register_trainers()
    names = [*ENV_NAMES.values(), "nnUNet_extTrainer"]
    return {name: os.environ[name] for name in names}


def nnunet_predict_command(dataset_name: str, configuration: str, trainer: str, fold: int | str,
                           device: str = "cuda", input_folder: str = "INPUT_FOLDER",
                           output_folder: str = "OUTPUT_FOLDER") -> str:
    """The ``nnUNetv2_predict`` line for one trained model (run it after :data:`ENV_COMMAND`); nnU-Net predicts
    on CUDA unless told ``-device cpu``."""
    words = ["nnUNetv2_predict", "-i", input_folder, "-o", output_folder, "-d", str(dataset_id_of(dataset_name)),
             "-c", configuration, "-f", str(fold), "-tr", trainer]
    return shlex.join(words + (["-device", "cpu"] if str(device) == "cpu" else []))


def nnunet_cli_hint(dataset_name: str, configuration: str, trainer: str, fold: int | str, device: str) -> str:
    """Three lines telling a user how to reach this model with nnU-Net's own CLI from a plain shell."""
    return (f"nnU-Net's own CLI on this model, from a plain shell:\n  {ENV_COMMAND}\n"
            f"  {nnunet_predict_command(dataset_name, configuration, trainer, fold, device)}")
