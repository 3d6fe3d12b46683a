"""nnU-Net's trainer with knowledge distillation (:mod:`xtiny.training.backends.distill`).

Every step runs the teacher on the same augmented batch the student sees and adds ``α·KD`` (the trainer's KD loss:
``pixel``, ``cwd`` or ``fg``) on the student's highest-resolution output to ``(1-α)·`` nnU-Net's own deep-supervised
Dice+CE (the teacher has only that output; the lower-resolution outputs keep their Dice+CE weights). The two parts are
logged per epoch (``train_seg_losses``, ``train_kd_losses`` in the checkpoint's log and a line in nnU-Net's training
log). Loss, α and T come from the class name (see :mod:`xtiny.training.backends.trainer_classes`).

Offline (the default): the frozen teacher is read from the fold's teacher record. Online (``kd_warmup`` set, a family
run's student): the family loop gives the trainer :attr:`XTinyKDTrainer.online_teacher`, a callable returning the
family's full configuration's logits on the current batch (detached); the KD term starts once the warm-up fraction
of the schedule's iterations is done (before: the loss is Dice+CE alone, the KD part logged as 0).
"""

from __future__ import annotations

import numpy as np

from xtiny.training.backends.distill import (
    KD_DEFAULT_ALPHA,
    KD_DEFAULT_LOSS,
    KD_DEFAULT_TEMPERATURE,
    kd_active,
    kd_loss,
    load_teacher_network,
    read_teacher_record,
    teacher_logits,
)
from xtiny.training.backends.optimizer_step import clipped_optimizer_step
from xtiny.training.backends.trainer_classes import XTinyBudgetTrainer

KD_LOG_KEYS = ("train_seg_losses", "train_kd_losses")


class XTinyKDTrainer(XTinyBudgetTrainer):
    """XTinyBudgetTrainer + the KD term (teacher from ``xtiny/kd_teacher_fold_<f>.json``, or online in a family run)."""

    kd_alpha = KD_DEFAULT_ALPHA
    kd_temperature = KD_DEFAULT_TEMPERATURE
    kd_loss_name = KD_DEFAULT_LOSS
    kd_warmup: float | None = None
    online_teacher = None  # online KD: set by the family loop, returns the teacher's logits on the current batch

    def initialize(self) -> None:
        super().initialize()
        self.kd_region_based = self.label_manager.has_regions
        self._kd_step = 0
        logs = self.logger.local_logger.my_fantastic_logging
        for key in KD_LOG_KEYS:
            logs.setdefault(key, [])
        settings = f"{self.kd_loss_name} KD, alpha {self.kd_alpha:g}, temperature {self.kd_temperature:g}"
        if self.kd_warmup is not None:
            self.teacher = None
            self.print_to_log_file(f"KD: online, the family's full configuration teaches after a warm-up of "
                                   f"{self.kd_warmup:g} of the schedule; {settings}", also_print_to_console=False)
            return
        record = read_teacher_record(self.plans_manager.dataset_name, self.fold)
        self.teacher = load_teacher_network(record["checkpoint"], self.device)
        self.print_to_log_file(f"KD: teacher {record['configuration']} ({record['checkpoint']}), {settings}",
                               also_print_to_console=False)

    def run_training(self):
        if self.kd_warmup is not None:
            from xtiny.errors import XTinyError

            raise XTinyError(f"{self.__class__.__name__} is an online-KD student: it trains only in a family run "
                             "beside its teacher.",
                             fix="train it with xtiny train -c <widths>,<full configuration> --distill online.")
        return super().run_training()

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._kd_step = self.current_epoch * self.num_iterations_per_epoch

    def _teacher_out(self, data):
        if self.kd_warmup is None:
            return teacher_logits(self.teacher, data)
        on = kd_active(self.kd_warmup, self._kd_step, self.num_epochs * self.num_iterations_per_epoch)
        return self.online_teacher() if on else None

    def train_step(self, batch: dict) -> dict:
        """nnU-Net's step (AMP on CUDA, grad clipping at 12) with the KD term added to its loss."""
        import torch

        data = batch["data"].to(self.device, non_blocking=True)
        target = batch["target"]
        target = [t.to(self.device, non_blocking=True) for t in target] if isinstance(target, list) \
            else target.to(self.device, non_blocking=True)
        teacher_out = self._teacher_out(data)
        self._kd_step += 1
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            output = self.network(data)
            seg = self.loss(output, target)
            if teacher_out is None:  # online KD, still warming up
                kd, loss = torch.zeros((), device=seg.device), seg
            else:
                student_top = output[0] if isinstance(output, list | tuple) else output
                kd = kd_loss(student_top, teacher_out, self.kd_temperature, self.kd_region_based, self.kd_loss_name)
                loss = (1 - self.kd_alpha) * seg + self.kd_alpha * kd
        clipped_optimizer_step(loss, self.network, self.optimizer, self.grad_scaler)
        return {"loss": loss.detach().cpu().numpy(), "seg_loss": seg.detach().cpu().numpy(),
                "kd_loss": kd.detach().cpu().numpy()}

    def on_train_epoch_end(self, train_outputs: list[dict]) -> None:
        """nnU-Net's epoch end, then the mean of each loss part is logged."""
        super().on_train_epoch_end(train_outputs)
        seg = float(np.mean([o["seg_loss"] for o in train_outputs]))
        kd = float(np.mean([o["kd_loss"] for o in train_outputs]))
        self.logger.log("train_seg_losses", seg, self.current_epoch)
        self.logger.log("train_kd_losses", kd, self.current_epoch)
        self.print_to_log_file(f"KD loss parts: Dice+CE {seg:.4f}, {self.kd_loss_name} KD {kd:.4f} "
                               f"(alpha {self.kd_alpha:g})", also_print_to_console=False)
