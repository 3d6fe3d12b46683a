"""What one training run returns (:class:`TrainResult`), the trainer name its budget gives, and whether a training
is finished (:func:`finished_training`: read back instead of retrained).

Where results live and how they are read is the ground floor's job (:mod:`xtiny.nnunet.trained`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xtiny.errors import XTinyError


@dataclass
class TrainResult:
    """One finished training run.

    ``output_folder`` is the model folder ``<Trainer>__<Plans>__<configuration>`` (what nnU-Net's
    ``nnUNetPredictor.initialize_from_trained_model_folder`` and ``nnUNetv2_predict -tr/-c/-f`` take);
    ``checkpoint`` is ``output_folder/fold_<fold>/checkpoint_final.pth``.
    """

    output_folder: Path
    checkpoint: Path
    trainer_name: str
    plans_identifier: str
    configuration: str
    fold: int | str
    validation_dice: float | None
    backend: str = "nnunet"
    epochs: int | None = None
    iterations_per_epoch: int | None = None
    seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fold_folder(self) -> Path:
        return self.output_folder / f"fold_{self.fold}"


def trainer_name_for(epochs: int, iterations_per_epoch: int | None, val_iterations: int | None,
                     backend: str, kd: tuple[float, float] | None = None, kd_loss: str | None = None,
                     kd_warmup: float | None = None) -> str:
    """:func:`budget_trainer_name` with bad budgets reported as XTinyError."""
    from xtiny.training.backends.trainer_classes import budget_trainer_name

    try:
        return budget_trainer_name(epochs, iterations_per_epoch, val_iterations, backend=backend, kd=kd,
                                   kd_loss=kd_loss, kd_warmup=kd_warmup)
    except ValueError as exc:
        raise XTinyError(f"invalid training budget: {exc}.",
                         fix="pass --epochs/--iterations >= 1 (and --val-iterations >= 1 with the nnunet backend).") from exc


def finished_training(fold_folder: Path, not_before: float | None = None) -> bool:
    """A training is finished when its final checkpoint and validation summary exist, and (with ``not_before``)
    the checkpoint is newer than the data it must have been trained on."""
    from xtiny.nnunet.trained import read_validation_dice

    checkpoint = fold_folder / "checkpoint_final.pth"
    if not checkpoint.is_file() or read_validation_dice(fold_folder) is None:
        return False
    return not_before is None or checkpoint.stat().st_mtime >= not_before
