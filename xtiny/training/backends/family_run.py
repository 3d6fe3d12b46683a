"""``train_family``: the entry point of family runs for both backends (see :mod:`.family_nnunet` and
:mod:`.family_monai`)."""

from __future__ import annotations

from collections.abc import Sequence

from xtiny.paths import ensure_nnunet_env
from xtiny.training.backends.family_plan import FamilyPlan, plan_family
from xtiny.training.results import TrainResult
from xtiny.training.spec import TrainSpec


def train_family(dataset: str | int, configurations, spec: TrainSpec, *,
                 not_before: float | None = None, validate_at: Sequence[float] = ()) -> list[TrainResult]:
    """Train ``configurations`` (a list, or ``"2d_xtiny8,2d"``) of ``dataset`` on one batch stream with ``spec``'s
    backend and budget; one result per configuration, in order. Inputs are checked before anything is written.

    Online KD (``spec.kd`` with ``spec.kd_warmup``, ``--distill online``): the family's full configuration (the base
    of its widths, which must be in the family) trains as a plain network and is the teacher of the others: its
    logits on each batch (detached, computed in its own training step just before theirs) enter their KD term
    (``spec.kd_loss``, α, T) once the warm-up fraction of the schedule is done. The students land under the online
    KD trainer (``..._XTinyKD_online_w{W}[_{loss}]_a{α}_T{T}_...``); every member's ``family_run.json`` and result
    record ``online_kd`` (teacher, role, loss, alpha, temperature, warm-up).

    ``validate_at`` (fractions of the schedule, MONAI backend): learning curves along the run. Every member validates
    on the whole validation cases after those fractions of its epochs; its ``family_run.json`` and result get
    ``"validation_curve"``: ``[{"epoch", "iterations", "dice"}]``, the final validation last."""
    from xtiny.training import register_trainers

    ensure_nnunet_env(quiet=True)
    register_trainers()
    if spec.kd is not None and not spec.online_kd:
        from xtiny.errors import XTinyError

        raise XTinyError("a family run trains without a trained teacher (--teacher).",
                         fix="train KD students one by one (xtiny train --teacher), use --distill online (the "
                             "family's full configuration teaches), or leave --teacher out.")
    from xtiny.training.backends.monai_backend import check_validate_at

    check_validate_at(spec.backend, validate_at, spec.epochs)  # before anything is written
    plan: FamilyPlan = plan_family(dataset, configurations, spec)
    if spec.backend == "monai":
        from xtiny.training.backends.family_monai import train_monai_family

        return train_monai_family(plan, not_before=not_before, validate_at=validate_at)
    from xtiny.training.backends.family_nnunet import train_nnunet_family

    return train_nnunet_family(plan, not_before=not_before)
