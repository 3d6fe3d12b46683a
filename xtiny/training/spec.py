"""What one training is: :class:`TrainSpec`, a frozen record of the budget, fold, device, seed and KD settings.

A spec owns its trainer name (the result folder nnU-Net uses, :func:`xtiny.training.results.trainer_name_for`) and
its stage key (what a pipeline stage that runs it records), so the name and the key always come from the spec that
actually runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from xtiny.errors import XTinyError

SPEC_BACKENDS = ("nnunet", "monai")


@dataclass(frozen=True)
class TrainSpec:
    """One training budget and where it runs. ``iterations_per_epoch``/``val_iterations`` None: nnU-Net's 250/50.
    ``kd`` is ``(alpha, temperature)`` for a KD student, None otherwise."""

    backend: str = "nnunet"
    epochs: int = 1000
    iterations_per_epoch: int | None = None
    val_iterations: int | None = None
    fold: int | str = 0
    device: str = "cpu"
    seed: int = 0
    kd: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        from xtiny.nnunet.splits import parse_fold

        object.__setattr__(self, "fold", parse_fold(self.fold))
        if self.backend not in SPEC_BACKENDS:
            raise XTinyError(f"unknown backend '{self.backend}'.", fix=f"use one of {', '.join(SPEC_BACKENDS)}.")
        for label, value in (("--epochs", self.epochs), ("--iterations", self.iterations_per_epoch),
                             ("--val-iterations", self.val_iterations), ("--seed", self.seed)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise XTinyError(f"{label} must be a whole number (got {value!r}).",
                                 fix=f"pass {label} as an integer, e.g. {label} 10.")
        self.trainer_name  # noqa: B018  (a bad budget fails here, as XTinyError)

    @property
    def trainer_name(self) -> str:
        """The budget trainer's class name, i.e. the result folder's prefix."""
        from xtiny.training.results import trainer_name_for

        return trainer_name_for(self.epochs, self.iterations_per_epoch, self.val_iterations, self.backend, self.kd)

    def stage_key(self) -> dict:
        """What a stage that runs this spec records in its key (JSON-ready)."""
        key = asdict(self)
        key["kd"] = list(self.kd) if self.kd else None
        key["trainer"] = self.trainer_name
        return key
