"""The fold split: nnU-Net's one rule (``nnUNetTrainer.do_split``), read by training, export and evaluation alike.

* ``fold="all"``: every case trains and validates.
* Otherwise ``$nnUNet_preprocessed/<dataset>/splits_final.json`` is used; when it is missing it is written as
  nnU-Net writes it (5-fold, ``generate_crossval_split`` with seed 12345 over the sorted case ids).
* A fold beyond the file's folds gets nnU-Net's seeded random 80:20 split (seed ``12345 + fold``).

A dataset whose cases come in groups (several slices or scans of one patient) ships its own folds drawn over the
groups (:func:`group_splits`): its builder installs them into the preprocessed folder (:func:`install_splits`) and
keeps a copy ``splits_final.json`` in the raw dataset folder, which :func:`crossval_splits` installs again when the
preprocessed one is missing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xtiny.atomic import atomic_write_json, read_json
from xtiny.errors import XTinyError
from xtiny.paths import nnunet_dirs


def parse_fold(fold: int | str) -> int | str:
    """``0``/``"0"`` → 0, ``"all"`` → ``"all"``; XTinyError otherwise."""
    if isinstance(fold, bool):
        raise XTinyError(f"invalid fold '{fold}'.", fix="use an integer fold (0-4) or 'all'.")
    if isinstance(fold, int) and fold >= 0:
        return fold
    if isinstance(fold, str) and fold.isdigit():
        return int(fold)
    if fold == "all":
        return "all"
    raise XTinyError(f"invalid fold '{fold}'.", fix="use an integer fold (0-4) or 'all'.")


def splits_file(dataset_name: str) -> Path:
    """``$nnUNet_preprocessed/<dataset>/splits_final.json``."""
    return nnunet_dirs().preprocessed / dataset_name / "splits_final.json"


def case_identifiers(data_folder: str | Path) -> list[str]:
    """Sorted case ids of a preprocessed data folder, read with nnU-Net's dataset class."""
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    folder = Path(data_folder)
    if not folder.is_dir():
        raise XTinyError(f"preprocessed data not found: {folder}.",
                         fix="run nnU-Net preprocessing (nnUNetv2_plan_and_preprocess) for this configuration first.")
    return sorted(infer_dataset_class(str(folder)).get_identifiers(str(folder)))


def crossval_splits(dataset_name: str, identifiers: list[str]) -> list[dict]:
    """The folds of ``splits_final.json``, written first (as nnU-Net does) when the file is missing."""
    from nnunetv2.utilities.crossval_split import generate_crossval_split

    path = splits_file(dataset_name)
    raw_copy = nnunet_dirs().raw / dataset_name / "splits_final.json"
    if not path.is_file() and raw_copy.is_file():
        install_splits(dataset_name, read_json(raw_copy, "nnU-Net splits file"))
    if path.is_file():
        splits = read_json(path, "nnU-Net splits file")
        if not isinstance(splits, list) or not all(isinstance(s, dict) and {"train", "val"} <= set(s) for s in splits):
            raise XTinyError(f"{path} is not an nnU-Net split file (a list of {{'train': [...], 'val': [...]}}).",
                             fix="delete it (nnU-Net and XTiny write a new 5-fold split) or repair it.")
        return splits
    splits = generate_crossval_split(sorted(identifiers), seed=12345, n_splits=5)
    atomic_write_json(path, splits)
    return splits


def group_splits(groups: dict[str, str], n_splits: int = 5) -> list[dict]:
    """nnU-Net's folds (``generate_crossval_split``, seed 12345) drawn over the sorted groups of ``groups``
    (``{case id: group}``, e.g. the patient of each slice); each case goes where its group goes, so no group is in
    a fold's training and validation at once. Fewer groups than ``n_splits``: one fold per group."""
    from nnunetv2.utilities.crossval_split import generate_crossval_split

    names = sorted(set(groups.values()))
    if len(names) < 2:
        raise XTinyError(f"a split by group needs at least 2 groups, got {names}.", fix="add cases of another group.")
    folds = generate_crossval_split(names, seed=12345, n_splits=min(n_splits, len(names)))
    return [{part: sorted(c for c, g in groups.items() if g in set(fold[part])) for part in ("train", "val")}
            for fold in folds]


def install_splits(dataset_name: str, splits: list[dict]) -> Path:
    """Write ``splits`` as the dataset's ``splits_final.json`` (atomic); returns its path."""
    path = splits_file(dataset_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, splits)
    return path


def fold_split(dataset_name: str, data_folder: str | Path, fold: int | str) -> tuple[list[str], list[str]]:
    """``(train ids, validation ids)`` of ``fold`` exactly as nnU-Net's trainer picks them (see module doc)."""
    fold = parse_fold(fold)
    identifiers = case_identifiers(data_folder)
    if fold == "all":
        return list(identifiers), list(identifiers)
    splits = crossval_splits(dataset_name, identifiers)
    if fold < len(splits):
        return list(splits[fold]["train"]), list(splits[fold]["val"])
    rnd = np.random.RandomState(seed=12345 + fold)  # nnU-Net's fallback for a fold beyond the file
    keys = np.sort(list(identifiers))
    train_idx = rnd.choice(len(keys), int(len(keys) * 0.8), replace=False)
    return [str(keys[i]) for i in train_idx], [str(keys[i]) for i in range(len(keys)) if i not in train_idx]
