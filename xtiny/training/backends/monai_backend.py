"""Train the same network with MONAI parts on nnU-Net's preprocessed data (``--backend monai``).

Tiny nets are data-pipeline bound, so the (small) training fold is cached in memory as tensors on the training
device, patches are sampled on tensors (nnU-Net's foreground oversampling share) and augmented with MONAI
dictionary transforms on that device (:mod:`xtiny.training.backends.monai_data`); AMP only on CUDA. Loss ``DiceCELoss``;
optimiser and poly LR schedule are nnU-Net's own (``nnUNetTrainer.configure_optimizers``, read from nnU-Net, not
copied). Final validation with ``sliding_window_inference`` + ``DiceMetric`` per validation case (in nnU-Net's
preprocessed space, no mirroring) written as ``fold_x/validation/summary.json`` with nnU-Net's keys
(``foreground_mean.Dice``); the validation predictions are exported back to raw geometry with nnU-Net's
``export_prediction_from_logits`` as ``fold_x/validation/<case><file_ending>``, as nnU-Net's trainer does.

Baselines: ``configuration`` may also be a registry baseline (``unext``, ``cmunext_s``, ``tinyunet``, see
:mod:`xtiny.models`). It is trained on the data, patch and batch size of the ``2d`` configuration and lands in
``<Trainer>__nnUNetPlans__<baseline>``; nnU-Net's predictor cannot rebuild it, so XTiny's evaluation reads its
``validation/`` predictions. Every network comes from :func:`xtiny.models.build_model`.

Checkpoints follow nnU-Net's format (``network_weights``, ``init_args``, ``trainer_name``,
``inference_allowed_mirroring_axes``, ...) in nnU-Net's layout under ``XTinyMonaiTrainer[_budget]``, written
atomically, so nnU-Net's predictor and XTiny's export load them like nnU-Net results.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xtiny.atomic import atomic_write_json, read_json
from xtiny.console import epoch_done
from xtiny.errors import XTinyError
from xtiny.nnunet.checkpoints import load_checkpoint, save_checkpoint_atomically
from xtiny.nnunet.export_prediction import prediction_exporter
from xtiny.nnunet.plans import PLANS_IDENTIFIER, plans_path
from xtiny.nnunet.splits import fold_split
from xtiny.nnunet.trained import model_folder, read_validation_dice
from xtiny.nnunet.trainer_defaults import nnunet_trainer_defaults, trainer_input_channels
from xtiny.training.backends.distill import (
    KD_DEFAULT_ALPHA,
    KD_DEFAULT_LOSS,
    KD_DEFAULT_TEMPERATURE,
    TeacherSpec,
    kd_active,
    kd_loss,
    load_teacher_network,
    teacher_logits,
)
from xtiny.training.backends.monai_data import (
    CachedCase,
    PatchSampler,
    augmentation,
    cases_to_device,
    stack_batch,
)
from xtiny.training.backends.nnunet_backend import (
    check_spec_backend,
    kd_extra,
    prepare_run,
    resume_checkpoint,
)
from xtiny.training.backends.optimizer_step import clipped_optimizer_step
from xtiny.training.backends.trainer_classes import parse_budget
from xtiny.training.results import TrainResult
from xtiny.training.spec import TrainSpec, check_not_online

MIRROR_AXES_2D = (0, 1)
BASELINE_DATA_CONFIGURATION = "2d"


def predict_logits(network, case: CachedCase, patch_size, use_amp: bool):
    """Sliding-window logits (Z, classes, Y, X) for one cached case."""
    import torch
    from monai.inferers import sliding_window_inference

    with torch.no_grad(), torch.autocast(case.image.device.type, enabled=use_amp):
        logits = sliding_window_inference(case.image, roi_size=tuple(patch_size), sw_batch_size=4,
                                          predictor=network, overlap=0.5, mode="gaussian")
    return torch.as_tensor(logits).as_subclass(torch.Tensor).float()


def _num(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _nan(value) -> float:
    return float("nan") if value is None else value


@dataclass
class MonaiRun:
    """What one MONAI-backend run trains: names, folders, budget, data and the nnU-Net configuration it uses."""

    dataset_name: str
    configuration: str
    data_configuration: str
    fold: int | str
    device: object
    plans: dict
    dataset_json: dict
    trainer_name: str
    output_folder: Path
    fold_folder: Path
    resume: str | None
    epochs: int
    iterations: int
    val_iterations: int
    seed: int
    plans_identifier: str
    teacher: TeacherSpec | None = None
    kd_alpha: float = KD_DEFAULT_ALPHA
    kd_temperature: float = KD_DEFAULT_TEMPERATURE
    kd_loss: str = KD_DEFAULT_LOSS
    kd_warmup: float | None = None  # online KD in a family run: the warm-up fraction (teacher: the family's full net)

    @property
    def kd_record(self) -> dict:
        """The KD settings a checkpoint and a result record: loss, alpha, temperature (and the warm-up when online)."""
        return {"loss": self.kd_loss, "alpha": self.kd_alpha, "temperature": self.kd_temperature,
                **({} if self.kd_warmup is None else {"online": True, "warmup": self.kd_warmup})}


class MonaiTrainer:
    """The MONAI loop as a small trainer (like nnU-Net's and MONAI's): :meth:`train_step` on one batch,
    :meth:`pseudo_dice` per epoch, :meth:`validate` on whole cases, :meth:`fit` for the budget."""

    def __init__(self, run: MonaiRun) -> None:
        import torch
        from monai.losses import DiceCELoss

        from xtiny.models import build_model

        self.run = run
        defaults = nnunet_trainer_defaults(run.plans, run.data_configuration, run.dataset_json)
        self.config = defaults.configuration_manager
        label_manager = defaults.label_manager
        if label_manager.has_regions or len(self.config.patch_size) != 2:
            raise XTinyError(f"the MONAI backend trains 2d label maps only ({run.configuration} of "
                             f"{run.dataset_name} is not).", fix="use --backend nnunet.")
        self.labels = [int(v) for v in label_manager.foreground_labels]
        self.oversample = float(defaults.oversample_foreground_percent)
        channels = trainer_input_channels(defaults, run.dataset_json)
        self.network = build_model(run.configuration, channels,
                                   label_manager.num_segmentation_heads, dataset=run.dataset_name, seed=run.seed,
                                   patch_size=self.config.patch_size).to(run.device)
        defaults.network, defaults.num_epochs = self.network, run.epochs
        self.optimizer, self.scheduler = defaults.configure_optimizers()  # nnU-Net's SGD and PolyLRScheduler
        self.use_amp = run.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.use_amp else None
        self.loss_fn = DiceCELoss(include_background=False, to_onehot_y=True, softmax=True,
                                  batch=self.config.batch_dice, smooth_nr=1e-5, smooth_dr=1e-5)
        self.log: dict[str, list] = {"train_losses": [], "mean_fg_dice": [], "epoch_seconds": []}
        self.teacher, self._parts, self._losses = None, [], []
        self.online_teacher = None  # online KD: set by the family run, the full net's logits on the current batch
        self.last_logits = None  # this step's logits, detached (what an online teacher gives its students)
        self.step_seconds = 0.0  # this session's seconds in train_step (a family run's share of the time)
        if run.teacher is not None:  # distillation: the frozen teacher runs on every augmented batch
            self.teacher = load_teacher_network(run.teacher.checkpoint, run.device)
        if run.teacher is not None or run.kd_warmup is not None:
            self.log.update(train_seg_losses=[], train_kd_losses=[])
        self.epoch = 0

    def load_checkpoint(self, path: str | Path) -> None:
        """Resume: weights, optimiser, grad scaler, log and epoch (``weights_only`` load with the allow-list)."""
        ckpt = load_checkpoint(path)
        self.network.load_state_dict(ckpt["network_weights"])
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        if self.scaler is not None and ckpt.get("grad_scaler_state"):
            self.scaler.load_state_dict(ckpt["grad_scaler_state"])
        self.log, self.epoch = ckpt.get("logging", self.log), int(ckpt["current_epoch"])

    def save_checkpoint(self, path: Path) -> None:
        """nnU-Net's checkpoint format, written atomically."""
        run = self.run
        init_args = {"plans": run.plans, "configuration": run.configuration, "fold": run.fold,
                     "dataset_json": run.dataset_json, "device": run.device}
        save_checkpoint_atomically({
            "network_weights": self.network.state_dict(), "optimizer_state": self.optimizer.state_dict(),
            "grad_scaler_state": self.scaler.state_dict() if self.scaler is not None else None,
            "logging": self.log, "_best_ema": None, "current_epoch": self.epoch, "init_args": init_args,
            "trainer_name": run.trainer_name, "inference_allowed_mirroring_axes": MIRROR_AXES_2D,
            "xtiny": {"backend": "monai", "epochs": run.epochs, "iterations_per_epoch": run.iterations,
                      "seed": run.seed, "model": run.configuration, "data_configuration": run.data_configuration,
                      **self._kd_checkpoint_entry()},
        }, path)

    def _kd_checkpoint_entry(self) -> dict:
        """``{"kd": {teacher, loss, alpha, temperature[, online, warmup]}}`` for a KD student (teacher: the
        checkpoint, or ``"online"``), else ``{}``."""
        run = self.run
        if run.teacher is None and run.kd_warmup is None:
            return {}
        return {"kd": {"teacher": "online" if run.teacher is None else run.teacher.checkpoint, **run.kd_record}}

    def _teacher_out(self, image):
        """The teacher's logits on this batch: the trained teacher's, or (online KD, after the warm-up) the family's
        full net's; None without KD or while warming up."""
        if self.teacher is not None:
            return teacher_logits(self.teacher, image)
        if self.run.kd_warmup is None:
            return None
        step = self.epoch * self.run.iterations + len(self._losses)
        return self.online_teacher() if kd_active(self.run.kd_warmup, step, self.run.epochs * self.run.iterations) \
            else None

    def train_step(self, image, label) -> float:
        """One optimiser step on a batch (gradient clipping at 12, as nnU-Net); returns the loss. With a teacher
        the loss is ``(1-α)·DiceCE + α·KD`` (the run's KD loss) on the same batch, and both parts are kept for the
        epoch's log (online KD while warming up: DiceCE alone, the KD part 0)."""
        import torch

        self.network.train()
        self.optimizer.zero_grad(set_to_none=True)
        soft = self._teacher_out(image)
        with torch.autocast(self.run.device.type, enabled=self.use_amp):
            logits = self.network(image)
            self.last_logits = logits.detach()
            loss = self.loss_fn(logits, label)
            if soft is not None:
                kd = kd_loss(logits, soft, self.run.kd_temperature, loss=self.run.kd_loss)
                self._parts.append((float(loss.detach()), float(kd.detach())))
                loss = (1 - self.run.kd_alpha) * loss + self.run.kd_alpha * kd
            elif self.run.kd_warmup is not None:
                self._parts.append((float(loss.detach()), 0.0))
        clipped_optimizer_step(loss, self.network, self.optimizer, self.scaler)
        value = float(loss.detach())
        self._losses.append(value)
        return value

    def pseudo_dice(self, batches: list) -> float | None:
        """nnU-Net-style pseudo Dice on validation patch batches ``[(image, label)]`` (tp/fp/fn summed over them)."""
        import torch

        if not batches:
            return None
        self.network.eval()
        tp, fp, fn = (np.zeros(len(self.labels)) for _ in range(3))
        with torch.no_grad(), torch.autocast(self.run.device.type, enabled=self.use_amp):
            for image, label in batches:
                pred = self.network(image).argmax(1, keepdim=True)
                for i, lab in enumerate(self.labels):
                    p, t = pred == lab, label == lab
                    tp[i] += float((p & t).sum())
                    fp[i] += float((p & ~t).sum())
                    fn[i] += float((~p & t).sum())
        dice = [2 * a / (2 * a + b + c) if (2 * a + b + c) > 0 else np.nan for a, b, c in zip(tp, fp, fn, strict=True)]
        return _num(np.nanmean(dice)) if not all(np.isnan(dice)) else None

    def validate(self, cases: list[CachedCase], export=None) -> dict:
        """Per-case Dice (MONAI's DiceMetric) and voxel counts (``n_ref``, ``n_pred``) of each foreground label;
        nnU-Net's summary.json keys.

        ``export(case, logits)`` (optional) also writes each case's prediction (see :func:`prediction_exporter`).
        """
        import torch
        from monai.metrics import DiceMetric

        self.network.eval()
        metric = DiceMetric(include_background=False, reduction="none", ignore_empty=True)
        n_classes = max(self.labels) + 1
        per_case = []
        for case in cases:
            logits = predict_logits(self.network, case, self.config.patch_size, self.use_amp)
            if export is not None:
                export(case, logits)
            pred = logits.argmax(1, keepdim=True)
            onehot = [torch.nn.functional.one_hot(t[:, 0], n_classes).permute(3, 0, 1, 2)[None].float()
                      for t in (pred, case.label)]
            dice = metric(*onehot)[0].cpu().numpy()  # (n_classes - 1,) over the whole case volume
            per_case.append({"reference_file": case.key, "metrics": {
                str(lab): {"Dice": _num(dice[lab - 1]), "n_ref": int((case.label == lab).sum()),
                           "n_pred": int((pred == lab).sum())} for lab in self.labels}})
        mean = {str(lab): {"Dice": _num(np.nanmean([_nan(c["metrics"][str(lab)]["Dice"]) for c in per_case]))}
                for lab in self.labels}
        fg = _num(np.nanmean([_nan(v["Dice"]) for v in mean.values()]))
        return {"computed_by": "xtiny MONAI backend: DiceMetric on nnU-Net-preprocessed data, no mirroring",
                "foreground_mean": {"Dice": fg}, "mean": mean, "metric_per_case": per_case}

    def record_curve_point(self, cases: list[CachedCase]) -> dict:
        """Validate on whole ``cases`` now (after ``self.epoch + 1`` finished epochs) and append the point to the
        log's ``validation_curve`` (kept in the checkpoint, so a resumed run keeps its curve)."""
        dice = self.validate(cases)["foreground_mean"]["Dice"]
        epochs = self.epoch + 1
        point = {"epoch": epochs, "iterations": epochs * self.run.iterations, "dice": dice}
        self.log.setdefault("validation_curve", []).append(point)
        return point

    def start_epoch(self) -> None:
        """The epoch's learning rate (nnU-Net's poly schedule) and a fresh list of KD loss parts."""
        self.scheduler.step(self.epoch)
        self._parts, self._losses = [], []
        self._tic = time.perf_counter()

    def end_epoch(self, val_batches: list, checkpoint: Path) -> None:
        """Log the epoch (loss, KD parts, pseudo Dice, seconds), advance, and save ``checkpoint``."""
        self.log["train_losses"].append(float(np.mean(self._losses)))
        if self._parts:
            self.log["train_seg_losses"].append(float(np.mean([p[0] for p in self._parts])))
            self.log["train_kd_losses"].append(float(np.mean([p[1] for p in self._parts])))
        self.log["mean_fg_dice"].append(self.pseudo_dice(val_batches))
        self.log["epoch_seconds"].append(round(time.perf_counter() - self._tic, 3))
        self.epoch += 1
        self.save_checkpoint(checkpoint)

    def epoch_note(self) -> str:
        dice = self.log["mean_fg_dice"][-1]
        return (f"loss {self.log['train_losses'][-1]:.4f}, pseudo Dice {'n/a' if dice is None else f'{100 * dice:.1f} %'}"
                f", {self.log['epoch_seconds'][-1]:.1f} s")

    def iterations_per_second(self) -> float | None:
        seconds = self.log.get("epoch_seconds") or []
        return round(self.run.iterations * len(seconds) / sum(seconds), 3) if seconds and sum(seconds) > 0 else None


def fit_together(trainers: dict[str, MonaiTrainer], train_cases: list[CachedCase], val_cases: list[CachedCase], *,
                 stream_seed: int, journal=None, bar=None, curve_epochs: Collection[int] = ()) -> None:
    """Train ``trainers`` (one, or a family run's members) to their budget on one batch stream: every augmented
    batch goes through each trainer's :meth:`MonaiTrainer.train_step`, every validation batch through each one's
    pseudo Dice. A trainer resumed further along waits for the others. Checkpoints (``checkpoint_latest.pth``) are
    written after every epoch; with ``journal`` (:class:`xtiny.training.backends.family_checkpoints.CheckpointJournal`)
    the members' checkpoints of an epoch are committed together. ``bar`` (optional) advances per iteration. After
    each epoch count in ``curve_epochs`` every trainer validates on the whole validation cases
    (:meth:`MonaiTrainer.record_curve_point`: a learning curve along one schedule)."""
    leader = next(iter(trainers.values()))
    run, config = leader.run, leader.config
    batch_size = int(config.batch_size)
    first = min(t.epoch for t in trainers.values())
    sampler = PatchSampler(train_cases, config.patch_size, leader.oversample, seed=stream_seed + first)
    val_sampler = PatchSampler(val_cases, config.patch_size, leader.oversample, seed=stream_seed + 1)
    transform = augmentation(stream_seed + first)
    for epoch in range(first, run.epochs):
        stepping = [t for t in trainers.values() if t.epoch == epoch]
        for trainer in stepping:
            trainer.start_epoch()
        for _ in range(run.iterations):
            image, label = stack_batch(sampler.sample(batch_size), transform)
            for trainer in stepping:
                tic = time.perf_counter()
                trainer.train_step(image, label)
                trainer.step_seconds += time.perf_counter() - tic
            if bar is not None:
                bar.update(1)
        val_batches = [stack_batch(val_sampler.sample(batch_size)) for _ in range(run.val_iterations)] \
            if val_sampler.slices else []
        if epoch + 1 in curve_epochs and val_cases:
            for trainer in stepping:
                trainer.record_curve_point(val_cases)
        for trainer in stepping:
            latest = trainer.run.fold_folder / "checkpoint_latest.pth"
            trainer.end_epoch(val_batches, latest if journal is None else Path(journal.stage(latest)))
        if journal is not None:
            journal.commit()
        if bar is None:
            for trainer in stepping:
                epoch_done(trainer.epoch, run.epochs, trainer.epoch_note())


def finish_monai_training(trainer: MonaiTrainer, val_cases: list[CachedCase], seconds: float | None,
                          extra: dict | None = None) -> TrainResult:
    """After training: ``checkpoint_latest.pth`` becomes ``checkpoint_final.pth``, the validation cases are predicted
    and exported, ``validation/summary.json`` is written; returns the run's :class:`TrainResult`."""
    run = trainer.run
    final, latest = run.fold_folder / "checkpoint_final.pth", run.fold_folder / "checkpoint_latest.pth"
    if latest.is_file():
        shutil.copyfile(latest, final.with_suffix(".tmp"))
        final.with_suffix(".tmp").replace(final)
        latest.unlink()
    elif not final.is_file():
        raise XTinyError(f"no checkpoint was written to {run.fold_folder}.", fix="rerun without --continue.")
    exporter = prediction_exporter(run.plans, run.data_configuration, run.dataset_json,
                                   run.fold_folder / "validation")
    atomic_write_json(run.fold_folder / "validation" / "summary.json", trainer.validate(val_cases, export=exporter))
    return TrainResult(output_folder=run.output_folder, checkpoint=final, trainer_name=run.trainer_name,
                       plans_identifier=run.plans_identifier, configuration=run.configuration, fold=run.fold,
                       validation_dice=read_validation_dice(run.fold_folder), backend="monai", epochs=run.epochs,
                       iterations_per_epoch=run.iterations, seconds=seconds,
                       extra={"iterations_per_second": trainer.iterations_per_second(), **(extra or {})})


def fold_cases(run: MonaiRun, data_identifier: str) -> tuple[list[CachedCase], list[CachedCase]]:
    """The fold's training and validation cases, cached as tensors on the run's device."""
    data_folder = plans_path(run.dataset_name, run.plans_identifier).parent / data_identifier
    train_keys, val_keys = fold_split(run.dataset_name, data_folder, run.fold)
    return cases_to_device(data_folder, train_keys, run.device), cases_to_device(data_folder, val_keys, run.device)


def monai_run(dataset: str | int, configuration: str, spec: TrainSpec, *, continue_training: bool = False,
              plans_identifier: str = PLANS_IDENTIFIER, teacher: str | None = None) -> MonaiRun:
    """Resolve a run of ``spec`` (seeded with ``spec.seed`` as given): a baseline trains on the ``2d`` data and
    lands in a folder named after itself."""
    from xtiny.models import get_spec, is_baseline

    check_spec_backend(spec, "monai")
    baseline = is_baseline(configuration)
    data_configuration = BASELINE_DATA_CONFIGURATION if baseline else configuration
    setup = prepare_run(dataset, data_configuration, spec, continue_training=continue_training and not baseline,
                        plans_identifier=plans_identifier, teacher=teacher)
    out, fold_folder, resume = setup.output_folder, setup.fold_folder, setup.resume
    if baseline:
        configuration = get_spec(configuration).name
        out = model_folder(setup.dataset_name, setup.trainer_name, configuration, plans_identifier)
        fold_folder = out / f"fold_{setup.fold}"
        resume = resume_checkpoint(fold_folder, continue_training)
    epochs, iterations, val_its = parse_budget(setup.trainer_name)
    dataset_json = read_json(plans_path(setup.dataset_name, plans_identifier).parent / "dataset.json", "dataset.json")
    kd = spec.kd or (KD_DEFAULT_ALPHA, KD_DEFAULT_TEMPERATURE)
    return MonaiRun(setup.dataset_name, configuration, data_configuration, setup.fold, setup.device, setup.plans,
                    dataset_json, setup.trainer_name, out, fold_folder, resume, epochs, iterations, val_its, spec.seed,
                    plans_identifier, setup.teacher, *kd, kd_loss=spec.kd_loss,
                    kd_warmup=spec.kd_warmup if spec.online_kd else None)


def write_model_folder_files(run: MonaiRun) -> None:
    """plans.json / dataset.json / dataset_fingerprint.json next to the folds, as nnU-Net's trainer writes them."""
    plans = {k: v for k, v in run.plans.items() if k != "continue_training"}
    atomic_write_json(run.output_folder / "plans.json", plans)
    atomic_write_json(run.output_folder / "dataset.json", run.dataset_json)
    fingerprint = plans_path(run.dataset_name, run.plans_identifier).parent / "dataset_fingerprint.json"
    if fingerprint.is_file():
        atomic_write_json(run.output_folder / "dataset_fingerprint.json", read_json(fingerprint, "dataset fingerprint"))


def train_monai(dataset: str | int, configuration: str, spec: TrainSpec, *, continue_training: bool = False,
                plans_identifier: str = PLANS_IDENTIFIER, teacher: str | None = None,
                validate_at: Sequence[float] = ()) -> TrainResult:
    """Train ``configuration`` with MONAI parts and ``spec``'s budget, fold, device and seed (the network's
    initialisation and the batch stream, as given); results in nnU-Net's layout under ``spec.trainer_name``
    (``XTinyMonaiTrainer[...]``).

    ``spec.val_iterations`` batches of validation patches give a per-epoch pseudo Dice (logged in the checkpoint);
    the final validation Dice is computed on whole validation cases. ``teacher`` distils a trained configuration
    (or a checkpoint) of the same dataset into it with ``spec.kd`` (``XTinyMonaiTrainerKD[_{loss}]_a{α}_T{T}...``;
    loss parts in the log). ``validate_at`` (fractions of the schedule) adds a learning curve: whole-case validation
    Dice at those points, in the result's ``extra["validation_curve"]`` (:func:`validation_epochs`).
    """
    check_not_online(spec)
    run = monai_run(dataset, configuration, spec, continue_training=continue_training,
                    plans_identifier=plans_identifier, teacher=teacher)
    trainer = MonaiTrainer(run)
    train_cases, val_cases = fold_cases(run, trainer.config.data_identifier)
    if run.resume is not None:
        trainer.load_checkpoint(run.resume)
    write_model_folder_files(run)
    started = time.perf_counter()
    fit_together({run.configuration: trainer}, train_cases, val_cases, stream_seed=run.seed,
                 curve_epochs=validation_epochs(validate_at, run.epochs))
    result = finish_monai_training(trainer, val_cases, round(time.perf_counter() - started, 3),
                                   kd_extra(run.teacher, spec))
    if validate_at:
        result.extra["validation_curve"] = validation_curve(trainer, result)
    return result


def check_validate_at(backend: str, fractions: Sequence[float], epochs: int) -> list[int]:
    """:func:`validation_epochs` of a run of ``backend``; XTinyError (exit 2) for learning curves outside the MONAI
    backend (the one that validates whole cases in-process), checked before anything is written."""
    if fractions and backend != "monai":
        raise XTinyError("--validate-at (learning curves) needs the MONAI backend, which validates whole cases "
                         "in-process.", fix="add --backend monai, or leave --validate-at out.")
    return validation_epochs(fractions, epochs)


def validation_epochs(fractions: Sequence[float], epochs: int) -> list[int]:
    """The epoch counts after which a learning curve validates: each fraction of ``epochs`` rounded to a whole epoch
    (at least 1), the final epoch left out (the final validation is the curve's last point); XTinyError (exit 2) for
    a fraction outside (0, 1)."""
    out = set()
    for fraction in fractions:
        if isinstance(fraction, bool) or not 0 < float(fraction) < 1:
            raise XTinyError(f"--validate-at takes fractions of the schedule between 0 and 1 (got {fraction}).",
                             fix="pass e.g. --validate-at 0.0625,0.125,0.25,0.5 (the final epoch always validates).")
        out.add(max(1, round(float(fraction) * epochs)))
    return sorted(e for e in out if e < epochs)


def validation_curve(trainer: MonaiTrainer, result: TrainResult) -> list[dict]:
    """The trainer's learning curve: its recorded points, then the final validation (``"final": True``)."""
    run = trainer.run
    return [*trainer.log.get("validation_curve", []),
            {"epoch": run.epochs, "iterations": run.epochs * run.iterations, "dice": result.validation_dice,
             "final": True}]
