"""nnU-Net's own training defaults (hyperparameters, optimiser, label manager), read from an ``nnUNetTrainer``."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from typing import Any


def nnunet_trainer_defaults(plans: dict, configuration: str, dataset_json: dict):
    """An ``nnUNetTrainer`` instance for reading nnU-Net's own hyperparameters and optimiser (built in a throwaway
    results folder, quietly: nothing is written where the user's results are)."""
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    previous = os.environ.get("nnUNet_results")
    with tempfile.TemporaryDirectory(prefix="xtiny-nnunet-defaults-") as tmp, \
            contextlib.redirect_stdout(io.StringIO()):
        os.environ["nnUNet_results"] = tmp
        try:
            return nnUNetTrainer({**plans, "continue_training": False}, configuration, 0, dataset_json,
                                 torch.device("cpu"))
        finally:
            if previous is None:
                os.environ.pop("nnUNet_results", None)
            else:
                os.environ["nnUNet_results"] = previous


def trainer_input_channels(trainer: Any, dataset_json: dict) -> int:
    """The input channel count nnU-Net's ``trainer`` gives its network (``determine_num_input_channels``)."""
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels

    return int(determine_num_input_channels(trainer.plans_manager, trainer.configuration_manager, dataset_json))

