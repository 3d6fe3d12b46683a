"""Family runs with the MONAI backend: every member steps on each augmented batch of one stream
(:func:`xtiny.training.backends.monai_backend.fit_together`), with its own optimizer, schedule, initialisation seed and log;
each lands in the folder a solo MONAI training of that budget writes, with ``fold_x/family_run.json`` beside it.
Checkpoints of an epoch are committed together; finished members are read back, unfinished ones resume."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from xtiny.console import progress_bar, say
from xtiny.training.backends.family_checkpoints import CheckpointJournal, recover_journal
from xtiny.training.backends.family_nnunet import (
    check_online_teacher_trains,
    family_journal_path,
    is_current,
    record_family_seconds,
    update_family_record,
    write_family_records,
)
from xtiny.training.backends.family_plan import FamilyPlan, check_family_memory, member_seed
from xtiny.training.results import TrainResult


def train_monai_family(plan: FamilyPlan, *, not_before: float | None = None,
                       validate_at: Sequence[float] = ()) -> list[TrainResult]:
    """Train every member of ``plan`` with the MONAI backend on one batch stream; one result per member, in order.
    ``validate_at`` (fractions of the schedule): every member validates on the whole validation cases at those
    points too; its learning curve goes into its ``family_run.json`` and result (``"validation_curve"``)."""
    from xtiny.training.backends.monai_backend import (
        MonaiTrainer,
        finish_monai_training,
        fit_together,
        fold_cases,
        monai_run,
        validation_curve,
        validation_epochs,
        write_model_folder_files,
    )
    from xtiny.training.results import finished_training

    spec = plan.spec
    runs = {c: monai_run(plan.dataset_name, c, dataclasses.replace(plan.spec_of(c), seed=member_seed(spec.seed, c)),
                         plans_identifier=plan.plans_identifier)
            for c in plan.configurations}
    note = recover_journal(family_journal_path(plan), [r.fold_folder for r in runs.values()])
    if note:
        say(f"[family] {note}")
    finished = {c for c, r in runs.items() if finished_training(r.fold_folder, not_before)}
    to_train = [c for c in plan.configurations if c not in finished]
    check_online_teacher_trains(plan, to_train)
    if plan.online_teacher is not None and to_train:  # the teacher steps first on every batch
        to_train = [plan.online_teacher, *(c for c in to_train if c != plan.online_teacher)]
    results: dict[str, TrainResult] = {}
    if to_train:
        device = runs[to_train[0]].device
        memory = check_family_memory(plan, device)
        write_family_records(plan, {c: runs[c].fold_folder for c in to_train}, {"memory": memory})
        trainers = {}
        for c in to_train:
            latest = runs[c].fold_folder / "checkpoint_latest.pth"
            runs[c] = dataclasses.replace(runs[c], resume=str(latest) if is_current(latest, not_before) else None)
            trainers[c] = MonaiTrainer(runs[c])
            if runs[c].resume is not None:
                trainers[c].load_checkpoint(runs[c].resume)
            write_model_folder_files(runs[c])
        if plan.online_teacher is not None:
            teacher = trainers[plan.online_teacher]
            for c, trainer in trainers.items():
                if c != plan.online_teacher:
                    trainer.online_teacher = lambda teacher=teacher: teacher.last_logits
        resumed = [f"{c} at epoch {t.epoch}" for c, t in trainers.items() if runs[c].resume is not None]
        if resumed:
            say(f"[family] resuming {', '.join(resumed)}")
        leader = trainers[to_train[0]]
        train_cases, val_cases = fold_cases(leader.run, leader.config.data_identifier)
        first = min(t.epoch for t in trainers.values())
        started = time.perf_counter()
        with progress_bar((spec.epochs - first) * leader.run.iterations, f"family {plan.label}", unit="it") as bar:
            fit_together(trainers, train_cases, val_cases, stream_seed=spec.seed,
                         journal=CheckpointJournal(family_journal_path(plan)), bar=bar,
                         curve_epochs=validation_epochs(validate_at, spec.epochs))
        for c, trainer in trainers.items():
            results[c] = finish_monai_training(trainer, val_cases, None,
                                               {"family": list(plan.configurations), "read_back": False,
                                                **plan.online_kd_record(c)})
            if validate_at:
                curve = validation_curve(trainer, results[c])
                results[c].extra["validation_curve"] = curve
                update_family_record(runs[c].fold_folder, validation_curve=curve)
        seconds = round(time.perf_counter() - started, 3)
        record_family_seconds({c: runs[c].fold_folder for c in to_train}, seconds,
                              {c: t.step_seconds for c, t in trainers.items()})
        for c in to_train:
            results[c].seconds = seconds
    for c in finished:
        results[c] = _read_back(runs[c], plan)
    return [results[c] for c in plan.configurations]


def _read_back(run, plan: FamilyPlan) -> TrainResult:
    from xtiny.nnunet.trained import read_validation_dice
    from xtiny.training.backends.family_nnunet import read_family_record

    curve = read_family_record(run.fold_folder).get("validation_curve")
    return TrainResult(output_folder=run.output_folder, checkpoint=run.fold_folder / "checkpoint_final.pth",
                       trainer_name=run.trainer_name, plans_identifier=run.plans_identifier,
                       configuration=run.configuration, fold=run.fold,
                       validation_dice=read_validation_dice(run.fold_folder), backend="monai", epochs=run.epochs,
                       iterations_per_epoch=run.iterations, seconds=None,
                       extra={"family": list(plan.configurations), "read_back": True,
                              **plan.online_kd_record(run.configuration),
                              **({"validation_curve": curve} if curve else {})})
