"""Thin, typed entry points into nnU-Net v2 that turn its failures into clear XTinyErrors."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path

from xtiny.errors import XTinyError
from xtiny.paths import ensure_nnunet_env, nnunet_dirs

PLANS_IDENTIFIER = "nnUNetPlans"


def default_num_processes() -> int:
    """Worker processes for nnU-Net preprocessing: the machine's cores, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def resolve_dataset_name(dataset: str | int) -> str:
    """``4``, ``"4"``, ``"Dataset004_Foo"`` or ``"Foo"`` → ``"Dataset004_Foo"`` (looked up in raw/preprocessed/results)."""
    ensure_nnunet_env(quiet=True)
    dirs = nnunet_dirs()
    text = str(dataset).strip()
    candidates: set[str] = set()
    for folder in (dirs.raw, dirs.preprocessed, dirs.results):
        if folder.is_dir():
            candidates.update(p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith("Dataset"))
    if re.fullmatch(r"\d+", text):
        prefix = f"Dataset{int(text):03d}_"
        matches = sorted(c for c in candidates if c.startswith(prefix))
    elif re.fullmatch(r"Dataset\d{3}_.+", text):
        matches = [text] if text in candidates else []
    else:
        matches = sorted(c for c in candidates if c.split("_", 1)[-1] == text)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(sorted(candidates)) or "none"
        raise XTinyError(
            f"unknown dataset '{dataset}': no such folder in {dirs.raw}, {dirs.preprocessed} or {dirs.results}"
            f" (known: {known}).",
            fix="pass a dataset id or DatasetXXX_Name that exists, or set nnUNet_raw/nnUNet_preprocessed.",
        )
    raise XTinyError(f"dataset '{dataset}' is ambiguous: {', '.join(matches)}.", fix="pass the full DatasetXXX_Name.")


def dataset_id_of(dataset_name: str) -> int:
    """``"Dataset004_Foo"`` → 4."""
    return int(dataset_name[len("Dataset"):len("Dataset") + 3])


def trainer_folders(dataset_name: str, configuration: str, plans_identifier: str = PLANS_IDENTIFIER
                    ) -> dict[str, Path]:
    """``{trainer: $nnUNet_results/<dataset>/<trainer>__<plans>__<configuration>}`` for every such folder, sorted."""
    root = nnunet_dirs().results / dataset_name
    suffix = f"__{plans_identifier}__{configuration}"
    if not root.is_dir():
        return {}
    return {p.name[:-len(suffix)]: p for p in sorted(root.glob(f"*{suffix}")) if p.is_dir()}


def plans_path(dataset_name: str, plans_identifier: str = PLANS_IDENTIFIER) -> Path:
    return nnunet_dirs().preprocessed / dataset_name / f"{plans_identifier}.json"


def is_preprocessed(dataset_name: str, configuration: str, plans_identifier: str = PLANS_IDENTIFIER) -> bool:
    """True when the plans exist and the configuration's data folder holds preprocessed cases."""
    plans = plans_path(dataset_name, plans_identifier)
    if not plans.is_file():
        return False
    from xtiny.atomic import read_json

    cfgs = read_json(plans, "plans file").get("configurations", {})
    if configuration not in cfgs:
        return False
    cfg = cfgs[configuration]
    identifier = cfg.get("data_identifier")
    while identifier is None and "inherits_from" in cfg:
        cfg = cfgs[cfg["inherits_from"]]
        identifier = cfg.get("data_identifier")
    folder = plans.parent / str(identifier)
    return folder.is_dir() and any(folder.iterdir())


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


def plan_and_preprocess(
    dataset: str | int,
    configurations: tuple[str, ...] = ("2d",),
    num_processes: int | None = None,
    verbose: bool = False,
) -> str:
    """Run nnU-Net's fingerprint → plan → preprocess for ``configurations`` (skips what already exists).

    Returns the dataset name. Uses nnU-Net's own API (the same code as ``nnUNetv2_plan_and_preprocess``).
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
    if not fingerprint.is_file():
        extract_fingerprints([did], num_processes=procs, check_dataset_integrity=True, verbose=verbose,
                             show_progress_bar=verbose)
    if not plans_path(name).is_file():
        with _planner_safe_n_proc_da():
            plan_experiments([did])
    todo = [c for c in configurations if not is_preprocessed(name, c)]
    if todo:
        preprocess([did], PLANS_IDENTIFIER, tuple(todo), num_processes=[procs] * len(todo), verbose=verbose,
                   show_progress_bar=verbose)
    return name
