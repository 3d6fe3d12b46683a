"""How long one training iteration takes here: a few real nnU-Net ``train_step`` calls per configuration.

Budgets that must fit a wall-clock target (the demo) or give two nets equal compute (``--budget equal-time``) are
set from these measurements, taken on the machine at hand, not from constants measured on another one.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import tempfile
import time

from xtiny.nnunet.plans import load_plans, read_preprocessed_dataset_json


def seconds_per_iteration(dataset_name: str, configuration: str, *, iterations: int = 5,
                          device: str = "cpu") -> float:
    """Median seconds of nnU-Net's ``train_step`` (its data loading and augmentation included) over ``iterations``
    steps after one warm-up, for ``configuration``; run in a throwaway results folder with XTiny's CPU threads."""

    from xtiny.devices import resolve_device
    from xtiny.training.backends.threads import cpu_thread_budget
    from xtiny.training.backends.trainer_classes import (
        budget_trainer_class,
        budget_trainer_name,
        register_trainers,
    )

    register_trainers()
    torch_device = resolve_device(device)
    plans = {**load_plans(dataset_name, configuration), "continue_training": False}
    trainer_class = budget_trainer_class(budget_trainer_name(1, iterations + 1, 1))
    previous = os.environ.get("nnUNet_results")
    with tempfile.TemporaryDirectory(prefix="xtiny-calibrate-") as tmp, cpu_thread_budget(torch_device.type), \
            contextlib.redirect_stdout(io.StringIO()):
        os.environ["nnUNet_results"] = tmp
        try:
            trainer = trainer_class(plans=plans, configuration=configuration, fold=0,
                                    dataset_json=read_preprocessed_dataset_json(dataset_name), device=torch_device)
            trainer.on_train_start()
            try:
                trainer.on_epoch_start()
                trainer.on_train_epoch_start()
                trainer.train_step(next(trainer.dataloader_train))  # warm-up
                times = []
                for _ in range(iterations):
                    started = time.perf_counter()
                    trainer.train_step(next(trainer.dataloader_train))
                    times.append(time.perf_counter() - started)
            finally:
                trainer.on_train_end()
        finally:
            if previous is None:
                os.environ.pop("nnUNet_results", None)
            else:
                os.environ["nnUNet_results"] = previous
    return float(statistics.median(times))
