"""nnU-Net's trainer with knowledge distillation from the recorded teacher (:mod:`xtiny.training.backends.distill`).

Every step runs the frozen teacher on the same augmented batch the student sees and adds
``α·T²·KL(teacher ‖ student)`` on the student's highest-resolution output to ``(1-α)·`` nnU-Net's own deep-supervised
Dice+CE. The two parts are logged per epoch (``train_seg_losses``, ``train_kd_losses`` in the checkpoint's log and
a line in nnU-Net's training log). α and T come from the class name (see :mod:`xtiny.training.backends.trainer_classes`).
"""

from __future__ import annotations

import numpy as np

from xtiny.training.backends.distill import (
    KD_DEFAULT_ALPHA,
    KD_DEFAULT_TEMPERATURE,
    kd_loss,
    load_teacher_network,
    read_teacher_record,
    teacher_logits,
)
from xtiny.training.backends.optimizer_step import clipped_optimizer_step
from xtiny.training.backends.trainer_classes import XTinyBudgetTrainer

KD_LOG_KEYS = ("train_seg_losses", "train_kd_losses")


class XTinyKDTrainer(XTinyBudgetTrainer):
    """XTinyBudgetTrainer + the KD term (teacher from ``xtiny/kd_teacher_fold_<f>.json``)."""

    kd_alpha = KD_DEFAULT_ALPHA
    kd_temperature = KD_DEFAULT_TEMPERATURE

    def initialize(self) -> None:
        super().initialize()
        record = read_teacher_record(self.plans_manager.dataset_name, self.fold)
        self.teacher = load_teacher_network(record["checkpoint"], self.device)
        self.kd_region_based = self.label_manager.has_regions
        logs = self.logger.local_logger.my_fantastic_logging
        for key in KD_LOG_KEYS:
            logs.setdefault(key, [])
        self.print_to_log_file(f"KD: teacher {record['configuration']} ({record['checkpoint']}), alpha "
                               f"{self.kd_alpha:g}, temperature {self.kd_temperature:g}", also_print_to_console=False)

    def train_step(self, batch: dict) -> dict:
        """nnU-Net's step (AMP on CUDA, grad clipping at 12) with the KD term added to its loss."""
        import torch

        data = batch["data"].to(self.device, non_blocking=True)
        target = batch["target"]
        target = [t.to(self.device, non_blocking=True) for t in target] if isinstance(target, list) \
            else target.to(self.device, non_blocking=True)
        teacher_out = teacher_logits(self.teacher, data)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            output = self.network(data)
            seg = self.loss(output, target)
            student_top = output[0] if isinstance(output, list | tuple) else output
            kd = kd_loss(student_top, teacher_out, self.kd_temperature, self.kd_region_based)
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
        self.print_to_log_file(f"KD loss parts: Dice+CE {seg:.4f}, KD {kd:.4f} (alpha {self.kd_alpha:g})",
                               also_print_to_console=False)
