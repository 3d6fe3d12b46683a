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
    ``kd`` is ``(alpha, temperature)`` for a KD student, None otherwise (the teacher itself is passed beside the
    spec); ``kd_loss`` its KD term (``pixel``, ``cwd`` or ``fg``, :mod:`xtiny.training.backends.distill`; None: the
    default term with ``kd``, and it must be None without), and
    ``kd_warmup`` (a fraction of the schedule in [0, 1)) makes it online KD in a family run: the family's full
    configuration is the teacher, and the KD term starts after that warm-up (None: a trained teacher). ``seed`` is a solo run's seed as given; a family run derives each member's from it
    (:func:`xtiny.training.backends.family_plan.member_seed`). Built from command-line flags by
    :func:`xtiny.commands.train.spec_from_args`; frozen and picklable, so jobs carry it to process pools and Ray."""

    backend: str = "nnunet"
    epochs: int = 1000
    iterations_per_epoch: int | None = None
    val_iterations: int | None = None
    fold: int | str = 0
    device: str = "cpu"
    seed: int = 0
    kd: tuple[float, float] | None = None
    kd_loss: str | None = None  # None: the default KD term (KD_DEFAULT_LOSS) with kd, nothing without
    kd_warmup: float | None = None

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
        if self.kd is not None:
            from xtiny.training.backends.distill import KD_DEFAULT_LOSS, check_kd_settings, check_kd_warmup

            object.__setattr__(self, "kd", (self.kd[0], self.kd[1]))  # a list (JSON) becomes the tuple
            if self.kd_loss is None:
                object.__setattr__(self, "kd_loss", KD_DEFAULT_LOSS)
            check_kd_settings(self.kd[0], self.kd[1], self.kd_loss)
            if self.kd_warmup is not None:
                check_kd_warmup(self.kd_warmup)
        elif self.kd_loss is not None or self.kd_warmup is not None:
            raise XTinyError(f"{'--kd-loss' if self.kd_loss is not None else '--kd-warmup'} set, but nothing to distil "
                             "(no teacher, no --distill).",
                             fix="add --teacher 2d (xtiny train / confirm), --distill online (a family run with "
                                 "xtiny train -c ...,2d) or --distill (xtiny run), or leave the KD flags out.")
        self.trainer_name  # noqa: B018  (a bad budget fails here, as XTinyError)

    @property
    def trainer_name(self) -> str:
        """The budget trainer's class name, i.e. the result folder's prefix."""
        from xtiny.training.results import trainer_name_for

        return trainer_name_for(self.epochs, self.iterations_per_epoch, self.val_iterations, self.backend, self.kd,
                                self.kd_loss, self.kd_warmup)

    def stage_key(self) -> dict:
        """What a stage that runs this spec records in its key (JSON-ready; ``TrainSpec(**key)`` without
        ``"trainer"`` is this spec again). ``kd_loss`` is in it with ``kd``, ``kd_warmup`` when online, so the keys
        of plain trainings are what they were before the KD losses."""
        key = asdict(self)
        key["kd"] = list(self.kd) if self.kd else None
        if self.kd is None:
            del key["kd_loss"]
        if self.kd_warmup is None:
            del key["kd_warmup"]
        key["trainer"] = self.trainer_name
        return key

    @property
    def online_kd(self) -> bool:
        """Online KD in a family run (the family's full configuration teaches; no trained teacher)."""
        return self.kd is not None and self.kd_warmup is not None


def check_kd_teacher(spec: TrainSpec, teacher: str | None) -> None:
    """XTinyError unless a teacher and ``spec.kd`` come together: a KD student needs both, a plain training neither
    (online KD, ``spec.kd_warmup``, has no trained teacher: its family's full configuration teaches)."""
    if spec.online_kd:
        if teacher is not None:
            raise XTinyError("online KD (--distill online) takes its teacher from the family run, not from --teacher.",
                             fix="leave --teacher out, or leave --distill online out.")
        return
    if (teacher is None) != (spec.kd is None):
        raise XTinyError("a KD student needs both a teacher and the spec's kd settings (alpha, temperature)."
                         if teacher is None else "a teacher was given, but the training spec has no kd settings.",
                         fix="pass the teacher and a TrainSpec with kd=(alpha, temperature) together, or neither.")


def check_not_online(spec: TrainSpec) -> None:
    """XTinyError for an online-KD spec outside a family run (a solo training, confirm, a sweep): online KD needs the
    family's full configuration training beside the students."""
    if spec.online_kd:
        raise XTinyError("online KD (--distill online) needs a family run with the full configuration in it.",
                         fix="train the widths and the full configuration together: xtiny train -d D -c "
                             "2d_xtiny8,2d_xtiny16,2d --distill online.")
