"""XTiny's nnU-Net trainer classes (the canonical definitions).

Budget trainers. nnU-Net names its result folder after the trainer class, so the training budget is part of the
class name and a result folder always says how it was trained:

* ``nnUNetTrainer`` — nnU-Net's default budget (1000 epochs x 250 iterations, 50 validation iterations);
  XTiny uses nnU-Net's own class for it, so full-budget results sit exactly where nnU-Net puts them.
* ``nnUNetTrainer_XTiny_{E}ep`` — ``E`` epochs of 250 iterations (e.g. ``nnUNetTrainer_XTiny_100ep``).
* ``nnUNetTrainer_XTiny_{E}ep_{I}it`` / ``..._{V}val`` — also ``I`` training and ``V`` validation iterations
  per epoch (short runs for tests and sweeps), e.g. ``nnUNetTrainer_XTiny_1ep_20it_2val``.

Nothing else differs from ``nnUNetTrainer`` (same loss, augmentation, optimizer, schedule over ``E`` epochs),
except that checkpoints are written atomically and saved more often for short budgets (``--continue``), and that
``progress.png`` is redrawn at most every 30 s (and after the last epoch), not after every short epoch.
These classes are created on demand from the name, so ``nnUNetv2_train -tr nnUNetTrainer_XTiny_100ep`` and
nnU-Net's predictor find any of them once ``nnUNet_extTrainer`` includes :data:`TRAINERS_DIR`
(see :func:`register_trainers`).

``XTinyMonaiTrainer`` (default budget) and ``XTinyMonaiTrainer_{E}ep[_{I}it][_{V}val]`` only mark checkpoints
written by the MONAI backend, so nnU-Net's predictor can rebuild the (identical) network from the plans; they
refuse to train through nnU-Net.

Distillation trainers put ``KD[_online_w{W}][_{loss}]_a{α}_T{T}`` after the prefix (``p`` for the decimal point;
the loss only when it is not ``pixel``, so the pixel trainers keep their names), e.g.
``nnUNetTrainer_XTinyKD_a0p5_T2_100ep`` and ``nnUNetTrainer_XTinyKD_cwd_a0p5_T2_100ep``
(:class:`xtiny.training.backends.kd_trainer.XTinyKDTrainer`, teacher read from the record of
:mod:`xtiny.training.backends.distill`) and ``XTinyMonaiTrainerKD_fg_a0p5_T2_100ep`` (MONAI backend marker).
``_online_w{W}`` names a student of online KD in a family run (the family's full configuration is the teacher, the
KD term starts after the warm-up fraction ``W`` of the schedule): such a trainer trains only inside a family run.
"""

from __future__ import annotations

import io
import re
import time

from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from xtiny.atomic import atomic_write_bytes
from xtiny.training import TRAINERS_DIR, register_trainers  # noqa: F401  (re-exported)
from xtiny.training.backends.distill import KD_DEFAULT_LOSS, KD_LOSSES, KD_UNNAMED_LOSS

DEFAULT_EPOCHS, DEFAULT_ITERATIONS, DEFAULT_VAL_ITERATIONS = 1000, 250, 50
MONAI_TRAINER_NAME = "XTinyMonaiTrainer"
PREFIXES = {"nnunet": "nnUNetTrainer_XTiny", "monai": MONAI_TRAINER_NAME}
_NUMBER = r"\d+(?:p\d+)?"
_NAMED_LOSSES = "|".join(loss for loss in KD_LOSSES if loss != KD_UNNAMED_LOSS)
_NAME = re.compile(rf"^(nnUNetTrainer_XTiny|XTinyMonaiTrainer)"
                   rf"(?:KD(?:_online_w({_NUMBER}))?(?:_({_NAMED_LOSSES}))?_a({_NUMBER})_T({_NUMBER}))?"
                   r"(?:_(\d+)ep(?:_(\d+)it)?(?:_(\d+)val)?)?$")
_CACHE: dict[str, type] = {}
PROGRESS_PLOT_SECONDS = 30.0  # a budget trainer redraws progress.png at most this often, and after its last epoch


def _kd_token(value: float) -> str:
    return f"{float(value):g}".replace(".", "p")


def kd_name_part(kd: tuple[float, float], kd_loss: str = KD_DEFAULT_LOSS, kd_warmup: float | None = None) -> str:
    """``KD[_online_w{W}][_{loss}]_a{α}_T{T}``: what a distillation trainer's name adds to its prefix (``pixel`` is
    never named, so the first KD trainers keep their names)."""
    online = "" if kd_warmup is None else f"_online_w{_kd_token(kd_warmup)}"
    loss = "" if kd_loss == KD_UNNAMED_LOSS else f"_{kd_loss}"
    return f"KD{online}{loss}_a{_kd_token(kd[0])}_T{_kd_token(kd[1])}"


def budget_trainer_name(epochs: int = DEFAULT_EPOCHS, iterations_per_epoch: int | None = None,
                        val_iterations: int | None = None, backend: str = "nnunet",
                        kd: tuple[float, float] | None = None, kd_loss: str | None = None,
                        kd_warmup: float | None = None) -> str:
    """The trainer class name for a budget and backend (``nnUNetTrainer`` / ``XTinyMonaiTrainer`` at the default);
    ``kd=(alpha, temperature)`` names the distillation trainer of that budget with ``kd_loss`` (None: the default
    term; and, for an online
    student of a family run, its warm-up fraction ``kd_warmup``)."""
    its = DEFAULT_ITERATIONS if iterations_per_epoch is None else int(iterations_per_epoch)
    val = DEFAULT_VAL_ITERATIONS if val_iterations is None else int(val_iterations)
    if min(int(epochs), its) < 1 or val < (1 if backend == "nnunet" else 0):
        raise ValueError(f"epochs and iterations must be >= 1, validation iterations >= "
                         f"{1 if backend == 'nnunet' else 0} for the {backend} backend (got {epochs}, {its}, {val})")
    prefix = PREFIXES[backend] if kd is None else \
        f"{PREFIXES[backend]}{kd_name_part(kd, kd_loss or KD_DEFAULT_LOSS, kd_warmup)}"
    if (int(epochs), its, val) == (DEFAULT_EPOCHS, DEFAULT_ITERATIONS, DEFAULT_VAL_ITERATIONS):
        if kd is not None:
            return prefix
        return "nnUNetTrainer" if backend == "nnunet" else MONAI_TRAINER_NAME
    name = f"{prefix}_{int(epochs)}ep"
    if its != DEFAULT_ITERATIONS or val != DEFAULT_VAL_ITERATIONS:
        name += f"_{its}it"
    if val != DEFAULT_VAL_ITERATIONS:
        name += f"_{val}val"
    return name


def parse_budget(name: str) -> tuple[int, int, int] | None:
    """``(epochs, iterations, val_iterations)`` encoded in a budget trainer name, else None."""
    if name in ("nnUNetTrainer", MONAI_TRAINER_NAME):
        return DEFAULT_EPOCHS, DEFAULT_ITERATIONS, DEFAULT_VAL_ITERATIONS
    match = _NAME.match(name)
    if not match:
        return None
    _, _, _, alpha, _, epochs, its, val = match.groups()
    if epochs is None:
        if alpha is None:  # "nnUNetTrainer_XTiny" alone names nothing
            return None
        return DEFAULT_EPOCHS, DEFAULT_ITERATIONS, DEFAULT_VAL_ITERATIONS
    return int(epochs), int(its or DEFAULT_ITERATIONS), int(DEFAULT_VAL_ITERATIONS if val is None else val)


def _number(token: str) -> float:
    return float(token.replace("p", "."))


def parse_kd(name: str) -> tuple[float, float] | None:
    """``(alpha, temperature)`` of a distillation trainer name, else None."""
    match = _NAME.match(name)
    if not match or match.group(4) is None:
        return None
    return _number(match.group(4)), _number(match.group(5))


def parse_kd_loss(name: str) -> str | None:
    """The KD loss of a distillation trainer name (``pixel`` when it names none), else None."""
    match = _NAME.match(name)
    if not match or match.group(4) is None:
        return None
    return match.group(3) or KD_UNNAMED_LOSS


def parse_kd_warmup(name: str) -> float | None:
    """The warm-up fraction of an online-KD student's trainer name (``_online_w{W}``), else None."""
    match = _NAME.match(name)
    return None if not match or match.group(2) is None else _number(match.group(2))


class XTinyBudgetTrainer(nnUNetTrainer):
    """nnUNetTrainer with a budget from the class attributes and atomic checkpoint writes."""

    budget_epochs = DEFAULT_EPOCHS
    budget_iterations = DEFAULT_ITERATIONS
    budget_val_iterations = DEFAULT_VAL_ITERATIONS
    checkpoint_journal = None  # a family run's CheckpointJournal: its checkpoints are committed together
    reports_epochs = True  # False in a family run, whose own bar reports every network

    def __init__(self, plans, configuration, fold, dataset_json, device=None):
        import torch

        super().__init__(plans, configuration, fold, dataset_json, device or torch.device("cuda"))
        self.num_epochs = self.budget_epochs
        self.num_iterations_per_epoch = self.budget_iterations
        self.num_val_iterations_per_epoch = self.budget_val_iterations
        self.save_every = max(1, min(50, self.budget_epochs // 10))
        self._progress_plotted_at: float | None = None
        self._clock = time.monotonic
        self._plot_progress_png = self.logger.plot_progress_png
        self.logger.plot_progress_png = self._plot_progress_now_and_then

    def _plot_progress_now_and_then(self, output_folder: str) -> None:
        """nnU-Net redraws ``progress.png`` after every epoch: about a second of matplotlib on a CPU, longer than a
        short epoch of a tiny net. Here it is drawn after the first and the last epoch, and in between at most every
        :data:`PROGRESS_PLOT_SECONDS`."""
        last = self.current_epoch >= self.num_epochs - 1
        since = None if self._progress_plotted_at is None else self._clock() - self._progress_plotted_at
        if last or since is None or since >= PROGRESS_PLOT_SECONDS:
            self._plot_progress_png(output_folder)
            self._progress_plotted_at = self._clock()

    def on_epoch_end(self) -> None:
        """nnU-Net's epoch end, then XTiny's progress bar (or one line) is told."""
        super().on_epoch_end()
        if not self.reports_epochs:
            return
        from xtiny.console import epoch_done

        try:
            dice = self.logger.get_value("ema_fg_dice", step=None)[-1]
        except (KeyError, IndexError):
            dice = None
        epoch_done(self.current_epoch, self.num_epochs, "" if dice is None else f"EMA pseudo Dice {100 * dice:.1f} %")

    def save_checkpoint(self, filename: str) -> None:
        """nnU-Net's checkpoint, serialized in memory, then written by :func:`xtiny.atomic.atomic_write_bytes`
        (temp file, fsync, rename; the temp file removed on error): an interrupted write never corrupts it. In a
        family run it goes to the family's staged file, renamed at the family's commit
        (:mod:`xtiny.training.backends.family_checkpoints`)."""
        buffer = io.BytesIO()
        super().save_checkpoint(buffer)  # torch.save into the buffer; nothing when nnU-Net skips checkpointing
        if buffer.tell():
            journal = self.checkpoint_journal
            atomic_write_bytes(filename if journal is None else journal.stage(filename), buffer.getvalue())


class XTinyMonaiTrainer(nnUNetTrainer):
    """Marks checkpoints of the MONAI backend (network rebuilt from the plans exactly like nnUNetTrainer)."""

    def run_training(self):
        raise RuntimeError(f"{MONAI_TRAINER_NAME} is trained with 'xtiny train --backend monai', not nnUNetv2_train.")


def budget_trainer_class(name: str) -> type[nnUNetTrainer]:
    """The trainer class for a budget name (see module doc); raises ``AttributeError`` for other names."""
    if name == "nnUNetTrainer":
        return nnUNetTrainer
    if name == MONAI_TRAINER_NAME:
        return XTinyMonaiTrainer
    budget = parse_budget(name)
    if budget is None:
        raise AttributeError(name)
    if name not in _CACHE:
        epochs, its, val = budget
        kd = parse_kd(name)
        attributes = {"budget_epochs": epochs, "budget_iterations": its, "budget_val_iterations": val,
                      "__module__": __name__, "__doc__": f"nnUNetTrainer, {epochs} epochs x {its} it, {val} val it."}
        if name.startswith(MONAI_TRAINER_NAME):
            base = XTinyMonaiTrainer
        elif kd is not None:
            from xtiny.training.backends.kd_trainer import XTinyKDTrainer

            base = XTinyKDTrainer
            loss, warmup = parse_kd_loss(name), parse_kd_warmup(name)
            source = "the recorded teacher" if warmup is None else \
                f"the family's full configuration (online, after a warm-up of {warmup:g})"
            attributes.update(kd_alpha=kd[0], kd_temperature=kd[1], kd_loss_name=loss, kd_warmup=warmup,
                              __doc__=f"nnUNetTrainer distilled from {source} ({loss} KD, alpha {kd[0]:g}, "
                                      f"T {kd[1]:g}), {epochs} epochs x {its} it.")
        else:
            base = XTinyBudgetTrainer
        _CACHE[name] = type(name, (base,), attributes)
    return _CACHE[name]


def __getattr__(name: str):
    return budget_trainer_class(name)
