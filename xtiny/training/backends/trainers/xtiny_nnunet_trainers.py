"""XTiny's trainers as nnU-Net finds them through ``nnUNet_extTrainer`` (this folder).

nnU-Net imports the modules of this folder by file name, so this module only re-exports
:mod:`xtiny.training.backends.trainer_classes` (absolute imports only; one class object per trainer).
"""

from xtiny.training.backends.trainer_classes import (
    XTinyBudgetTrainer,
    XTinyMonaiTrainer,
    budget_trainer_class,
)

__all__ = ["XTinyBudgetTrainer", "XTinyMonaiTrainer"]


def __getattr__(name: str):
    """``nnUNetTrainer_XTiny_{E}ep[_{I}it][_{V}val]`` classes are made on demand from their name."""
    return budget_trainer_class(name)
