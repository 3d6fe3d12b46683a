"""Train with nnU-Net v2's own trainer, in-process (the same steps as ``nnUNetv2_train``).

The budget picks the trainer class (:mod:`xtiny.training.backends.trainer_classes`), so results land in nnU-Net's layout
under an honest name and ``nnUNetv2_predict`` / ``nnUNetv2_find_best_configuration`` work unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xtiny.devices import resolve_device
from xtiny.errors import XTinyError
from xtiny.nnunet.checkpoints import resume_trainer
from xtiny.nnunet.names import resolve_dataset_name
from xtiny.nnunet.plans import PLANS_IDENTIFIER, is_preprocessed, load_plans, planning_command, plans_path
from xtiny.nnunet.trained import model_folder, read_validation_dice
from xtiny.nnunet.width_names import base_of
from xtiny.nnunet.worker_pools import preloaded_worker_pools
from xtiny.paths import ensure_nnunet_env
from xtiny.training.backends.distill import (
    KD_DEFAULT_ALPHA,
    KD_DEFAULT_TEMPERATURE,
    TeacherSpec,
    check_kd_settings,
    record_teacher,
    resolve_teacher,
)
from xtiny.training.backends.threads import cpu_thread_budget
from xtiny.training.backends.trainer_classes import (
    budget_trainer_class,
    parse_budget,
    register_trainers,
)
from xtiny.training.results import TrainResult
from xtiny.training.spec import TrainSpec, check_kd_teacher, check_not_online

CHECKPOINT_NAMES = ("checkpoint_final.pth", "checkpoint_latest.pth", "checkpoint_best.pth")


def check_trainable(dataset_name: str, configuration: str, plans_identifier: str = PLANS_IDENTIFIER) -> dict:
    """Plans contain ``configuration`` and its preprocessed data exist; returns the plans."""
    plans = load_plans(dataset_name, configuration, plans_identifier)
    if not is_preprocessed(dataset_name, configuration, plans_identifier):
        raise XTinyError(f"configuration '{configuration}' of {dataset_name} has no preprocessed data.",
                         fix=f"run `{planning_command(dataset_name, base_of(configuration))}` first.")
    return plans


def resume_checkpoint(fold_folder, continue_training: bool) -> str | None:
    """With ``continue_training``: the checkpoint nnU-Net continues from (final, else latest, else best);
    XTinyError when there is none. Without: None."""
    if not continue_training:
        return None
    for name in CHECKPOINT_NAMES:
        if (fold_folder / name).is_file():
            return str(fold_folder / name)
    raise XTinyError(f"--continue: no checkpoint to continue from in {fold_folder}.",
                     fix="train without --continue first (same --epochs/iterations select the same folder).")


def check_teacher(dataset_name: str, teacher: str, configuration: str, plans: dict, spec: TrainSpec,
                  plans_identifier: str = PLANS_IDENTIFIER) -> TeacherSpec:
    """``spec``'s KD settings (``kd`` and ``kd_loss``) and ``teacher`` (a configuration or a checkpoint path) checked
    for the student ``configuration`` trained on ``spec.fold``
    (:func:`xtiny.training.backends.distill.resolve_teacher`); XTinyError before anything is written."""
    from batchgenerators.utilities.file_and_folder_operations import load_json

    kd = spec.kd or (KD_DEFAULT_ALPHA, KD_DEFAULT_TEMPERATURE)
    check_kd_settings(kd[0], kd[1], spec.kd_loss)
    dataset_json = load_json(str(plans_path(dataset_name, plans_identifier).parent / "dataset.json"))
    return resolve_teacher(dataset_name, teacher, spec.fold, configuration, plans, dataset_json, plans_identifier)


@dataclass
class RunSetup:
    """Everything a backend needs to start: resolved names, plans, device, result folders, resume checkpoint."""

    dataset_name: str
    fold: int | str
    device: Any
    plans: dict
    trainer_name: str
    output_folder: Path
    fold_folder: Path
    resume: str | None
    teacher: TeacherSpec | None = None


def check_spec_backend(spec: TrainSpec, backend: str) -> None:
    """XTinyError when ``spec`` is for another backend than the trainer it is given to."""
    if spec.backend != backend:
        raise XTinyError(f"a {spec.backend} training spec was given to the {backend} trainer.",
                         fix=f"build the spec with backend='{backend}', or train with the {spec.backend} backend.")


def prepare_run(dataset: str | int, configuration: str, spec: TrainSpec, *, continue_training: bool = False,
                plans_identifier: str = PLANS_IDENTIFIER, teacher: str | None = None) -> RunSetup:
    """Validate the inputs of a training run of ``spec`` (XTinyError on bad ones, before anything is written) and
    resolve its result folders (named by ``spec.trainer_name``); with ``teacher`` (which needs ``spec.kd``) also the
    distillation settings and the teacher (see :func:`xtiny.training.backends.distill.resolve_teacher`)."""
    ensure_nnunet_env(quiet=True)
    register_trainers()
    check_kd_teacher(spec, teacher)
    name = resolve_dataset_name(dataset)
    torch_device = resolve_device(spec.device)
    plans = check_trainable(name, configuration, plans_identifier)
    checked = None if teacher is None else check_teacher(name, teacher, configuration, plans, spec, plans_identifier)
    out = model_folder(name, spec.trainer_name, configuration, plans_identifier)
    fold_folder = out / f"fold_{spec.fold}"
    return RunSetup(name, spec.fold, torch_device, plans, spec.trainer_name, out, fold_folder,
                    resume_checkpoint(fold_folder, continue_training), checked)


def train_nnunet(dataset: str | int, configuration: str, spec: TrainSpec, *, continue_training: bool = False,
                 plans_identifier: str = PLANS_IDENTIFIER, teacher: str | None = None) -> TrainResult:
    """Train ``configuration`` of ``dataset`` with nnU-Net's trainer of ``spec``'s budget (``spec.trainer_name``)
    on ``spec.fold`` and ``spec.device``, and run its final validation.

    ``continue_training`` resumes from the fold's checkpoint (XTinyError when there is none). The validation Dice
    is nnU-Net's ``fold_x/validation/summary.json`` ``foreground_mean`` Dice. ``teacher`` (a configuration of the
    same dataset or a checkpoint path) distils it into the student with the KD trainer of that budget and
    ``spec.kd``; the teacher is recorded for the fold first, so ``nnUNetv2_train -tr <that trainer>`` finds it too.
    ``spec.seed`` is not used: nnU-Net's trainer seeds nothing (the caller may seed torch).
    """
    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_json

    check_spec_backend(spec, "nnunet")
    check_not_online(spec)
    run = prepare_run(dataset, configuration, spec, continue_training=continue_training,
                      plans_identifier=plans_identifier, teacher=teacher)
    name, fold, torch_device, plans = run.dataset_name, run.fold, run.device, run.plans
    if run.teacher is not None:
        record_teacher(run.teacher)
    trainer_name, out, fold_folder = run.trainer_name, run.output_folder, run.fold_folder

    plans["continue_training"] = continue_training
    dataset_json = load_json(str(plans_path(name, plans_identifier).parent / "dataset.json"))
    trainer = budget_trainer_class(trainer_name)(plans=plans, configuration=configuration, fold=fold,
                                                 dataset_json=dataset_json, device=torch_device)
    start = time.perf_counter()
    resume_trainer(trainer, continue_training)
    if torch_device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    with cpu_thread_budget(torch_device.type), preloaded_worker_pools():
        trainer.run_training()
        trainer.perform_actual_validation(False)
    budget = parse_budget(trainer_name)
    return TrainResult(output_folder=out, checkpoint=fold_folder / "checkpoint_final.pth", trainer_name=trainer_name,
                       plans_identifier=plans_identifier, configuration=configuration, fold=fold,
                       validation_dice=read_validation_dice(fold_folder), backend="nnunet", epochs=budget[0],
                       iterations_per_epoch=budget[1], seconds=round(time.perf_counter() - start, 3),
                       extra=kd_extra(run.teacher, spec))


def kd_extra(teacher: TeacherSpec | None, spec: TrainSpec) -> dict:
    """What a result records of its teacher: ``{"teacher", "kd_loss", "kd_alpha", "kd_temperature"}``, or nothing."""
    if teacher is None or spec.kd is None:
        return {}
    return {"teacher": teacher.checkpoint, "kd_loss": spec.kd_loss, "kd_alpha": spec.kd[0],
            "kd_temperature": spec.kd[1]}

