"""Find trained models in nnU-Net's results layout and the held-out cases of a fold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from xtiny.errors import XTinyError
from xtiny.nnunet.names import dataset_id_of
from xtiny.nnunet.plans import PLANS_IDENTIFIER
from xtiny.nnunet.trained import trainer_folders
from xtiny.paths import nnunet_dirs

CHECKPOINTS = ("checkpoint_final.pth", "checkpoint_best.pth")


@dataclass(frozen=True)
class ModelFolder:
    """One trained model: ``$nnUNet_results/<dataset>/<trainer>__<plans>__<configuration>/fold_<fold>``."""

    configuration: str
    trainer: str
    plans: str
    fold: int | str
    fold_dir: Path
    checkpoint: Path | None

    @property
    def training_dir(self) -> Path:
        return self.fold_dir.parent


def find_model_folder(dataset_name: str, configuration: str, fold: int | str = 0, *,
                      trainer: str | None = None, plans: str = PLANS_IDENTIFIER) -> ModelFolder:
    """The fold folder of ``configuration`` (any trainer unless ``trainer`` is given; ``nnUNetTrainer`` preferred).

    A folder counts when it holds a checkpoint or a ``validation/`` folder with predictions. Raises an
    XTinyError naming what to train when none exists.
    """
    root = nnunet_dirs().results / dataset_name
    found = []
    for t, d in trainer_folders(dataset_name, configuration, plans).items():
        if trainer is not None and t != trainer:
            continue
        fold_dir = d / f"fold_{fold}"
        ckpt = next((fold_dir / c for c in CHECKPOINTS if (fold_dir / c).is_file()), None)
        if ckpt is not None or (fold_dir / "validation").is_dir():
            found.append(ModelFolder(configuration, t, plans, fold, fold_dir, ckpt))
    if not found:
        did = dataset_id_of(dataset_name)
        who = f"trainer {trainer}, " if trainer else ""
        raise XTinyError(
            f"no trained model for configuration '{configuration}' ({who}fold {fold}) in {root} "
            f"(looked for */{'*' if trainer is None else trainer}__{plans}__{configuration}/fold_{fold} with a checkpoint).",
            fix=f"train it first: `xtiny train -d {did} -c {configuration} --fold {fold}` "
                f"(or nnUNetv2_train {did} {configuration} {fold}).",
        )
    from xtiny.training.backends.trainer_classes import parse_kd

    # nnU-Net's own trainer first, a distilled student only when nothing else was trained
    found.sort(key=lambda m: (m.trainer != "nnUNetTrainer", parse_kd(m.trainer) is not None, m.checkpoint is None,
                              m.trainer))
    return found[0]


def split_cases(dataset_name: str, configurations: Sequence[str], fold: int | str = 0, split: str = "val") -> list[str]:
    """Case ids of ``fold``'s ``val`` (held out) or ``train`` split, by nnU-Net's rule (:mod:`xtiny.nnunet.splits`),
    over the data of the first of ``configurations`` the plans hold (``2d`` for registry baselines)."""
    from xtiny.nnunet.plans import load_plans, require_preprocessed
    from xtiny.nnunet.splits import fold_split

    if split not in ("val", "train"):
        raise XTinyError(f"unknown split '{split}'.", fix="use --split val or --split train.")
    plans = load_plans(dataset_name)
    data_configuration = next((c for c in configurations if c in plans.get("configurations", {})), "2d")
    train, val = fold_split(dataset_name, require_preprocessed(dataset_name, plans, data_configuration), fold)
    return sorted(val if split == "val" else train)
