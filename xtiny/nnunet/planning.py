"""nnU-Net's fingerprint → plan → preprocess, through its own API (the code behind ``nnUNetv2_plan_and_preprocess``)."""

from __future__ import annotations

import os
from contextlib import contextmanager

from xtiny.nnunet.names import dataset_id_of, resolve_dataset_name
from xtiny.nnunet.plans import PLANS_IDENTIFIER, is_preprocessed, plans_path
from xtiny.nnunet.worker_pools import preloaded_worker_pools
from xtiny.paths import nnunet_dirs


def default_num_processes() -> int:
    """Worker processes for nnU-Net preprocessing: the machine's cores, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


@contextmanager
def _planner_safe_n_proc_da():
    """nnU-Net's planner calls ``torch.set_num_threads(nnUNet_n_proc_DA)``, which fails for 0 (a valid value for
    training: no augmentation workers). Plan with at least 1, then restore."""
    old = os.environ.get("nnUNet_n_proc_DA")
    if old is not None and old.strip() == "0":
        os.environ["nnUNet_n_proc_DA"] = "1"
    try:
        yield
    finally:
        if old is not None:
            os.environ["nnUNet_n_proc_DA"] = old


def plan_and_preprocess(dataset: str | int, configurations: tuple[str, ...] = ("2d",),
                        num_processes: int | None = None, verbose: bool = False, *, redo: bool = False) -> str:
    """Run nnU-Net's fingerprint → plan → preprocess for ``configurations``; returns the dataset name.

    Skips what already exists, unless ``redo``: then the fingerprint, the plans (nnU-Net rewrites
    ``nnUNetPlans.json``) and the preprocessed data are all made anew from the raw data.
    """
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiments,
        preprocess,
    )

    name = resolve_dataset_name(dataset)
    did = dataset_id_of(name)
    procs = num_processes or default_num_processes()
    fingerprint = nnunet_dirs().preprocessed / name / "dataset_fingerprint.json"
    with preloaded_worker_pools():  # the dataset check, the fingerprint and each configuration open a pool
        if redo or not fingerprint.is_file():
            extract_fingerprints([did], num_processes=procs, check_dataset_integrity=True, verbose=verbose,
                                 clean=True, show_progress_bar=verbose)
        if redo or not plans_path(name).is_file():
            with _planner_safe_n_proc_da():
                plan_experiments([did])
        todo = [c for c in configurations if redo or not is_preprocessed(name, c)]
        if todo:
            preprocess([did], PLANS_IDENTIFIER, tuple(todo), num_processes=[procs] * len(todo), verbose=verbose,
                       show_progress_bar=verbose)
    return name
