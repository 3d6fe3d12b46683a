"""Trained models in nnU-Net's results layout:
``$nnUNet_results/<Dataset>/<Trainer>__<Plans>__<configuration>/fold_<f>/checkpoint_final.pth`` with
``plans.json`` and ``dataset.json`` beside the folds, and ``fold_<f>/validation/summary.json`` (nnU-Net's metrics).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from xtiny.atomic import read_json
from xtiny.errors import XTinyError
from xtiny.nnunet.checkpoints import load_checkpoint
from xtiny.nnunet.plans import PLANS_IDENTIFIER
from xtiny.paths import nnunet_dirs


def model_folder(dataset_name: str, trainer_name: str, configuration: str,
                 plans_identifier: str = PLANS_IDENTIFIER) -> Path:
    """nnU-Net's model folder ``$nnUNet_results/<Dataset>/<Trainer>__<Plans>__<configuration>``."""
    return nnunet_dirs().results / dataset_name / f"{trainer_name}__{plans_identifier}__{configuration}"


def trainer_folders(dataset_name: str, configuration: str, plans_identifier: str = PLANS_IDENTIFIER
                    ) -> dict[str, Path]:
    """``{trainer: $nnUNet_results/<dataset>/<trainer>__<plans>__<configuration>}`` for every such folder, sorted."""
    root = nnunet_dirs().results / dataset_name
    suffix = f"__{plans_identifier}__{configuration}"
    if not root.is_dir():
        return {}
    return {p.name[:-len(suffix)]: p for p in sorted(root.glob(f"*{suffix}")) if p.is_dir()}


def read_validation_dice(fold_folder: str | os.PathLike) -> float | None:
    """``foreground_mean.Dice`` from nnU-Net's ``fold_folder/validation/summary.json`` (None when absent)."""
    summary = Path(fold_folder) / "validation" / "summary.json"
    if not summary.is_file():
        return None
    value = read_json(summary, "validation summary").get("foreground_mean", {}).get("Dice")
    return None if value is None else float(value)


def logged_training_seconds(checkpoint: dict) -> float | None:
    """Seconds the epochs of a checkpoint took, from its log: nnU-Net's epoch start/end timestamps, or the MONAI
    backend's ``epoch_seconds``. None when the log has neither."""
    log = checkpoint.get("logging") or {}
    if log.get("epoch_seconds"):
        return round(float(sum(log["epoch_seconds"])), 3)
    starts, ends = log.get("epoch_start_timestamps") or [], log.get("epoch_end_timestamps") or []
    pairs = [(float(a), float(b)) for a, b in zip(starts, ends, strict=False)]
    return round(sum(b - a for a, b in pairs), 3) if pairs else None


@dataclass
class TrainedModel:
    """Everything needed to rebuild a trained network: folder, plans, dataset.json, checkpoint dict."""

    dataset_name: str
    configuration: str
    fold: int | str
    trainer_folder: Path
    checkpoint_path: Path
    plans: dict
    dataset_json: dict
    checkpoint: dict

    @property
    def trainer_name(self) -> str:
        return self.trainer_folder.name.split("__")[0]

    @property
    def mirroring_axes(self) -> list[int] | None:
        axes = self.checkpoint.get("inference_allowed_mirroring_axes")
        return None if axes is None else [int(a) for a in axes]


def find_trainer_folder(dataset_name: str, configuration: str, trainer: str | None = None,
                        plans_identifier: str = PLANS_IDENTIFIER) -> Path:
    """The one ``<trainer>__<plans>__<configuration>`` folder; refuses none or several (export must be explicit,
    unlike evaluation's ``find_model_folder`` which prefers ``nnUNetTrainer``)."""
    root = nnunet_dirs().results / dataset_name
    suffix = f"__{plans_identifier}__{configuration}"
    folders = trainer_folders(dataset_name, configuration, plans_identifier)
    found = [p for t, p in folders.items() if trainer in (None, "", t)]
    if not found:
        raise XTinyError(f"no trained model '*{suffix}'{f' for trainer {trainer}' if trainer else ''} in {root}.",
                         fix=f"train it first: xtiny train -d {dataset_name} -c {configuration}.")
    if len(found) > 1:
        raise XTinyError(f"several trainers have results for {configuration} in {root}: {', '.join(folders)}.",
                         fix="pick one with --trainer NAME.")
    return found[0]


def _model_json(path: Path) -> dict:
    if not path.is_file():
        raise XTinyError(f"{path} not found next to the trained model.", fix="re-run training; the folder is incomplete.")
    return read_json(path, path.name)


def load_trained_model(dataset_name: str, configuration: str, fold: int | str = 0, *, trainer: str | None = None,
                       checkpoint_name: str = "checkpoint_final.pth") -> TrainedModel:
    """Locate and load a trained model (plans and dataset.json from the results folder, as nnU-Net does)."""
    folder = find_trainer_folder(dataset_name, configuration, trainer)
    fold_dir = folder / f"fold_{fold}"
    ckpt_path = fold_dir / checkpoint_name
    if not ckpt_path.is_file() and checkpoint_name == "checkpoint_final.pth" and (fold_dir / "checkpoint_best.pth").is_file():
        ckpt_path = fold_dir / "checkpoint_best.pth"
    checkpoint = load_checkpoint(ckpt_path)
    return TrainedModel(dataset_name, configuration, fold, folder, ckpt_path, _model_json(folder / "plans.json"),
                        _model_json(folder / "dataset.json"), checkpoint)


def build_trained_network(model: TrainedModel):
    """The network as nnU-Net builds it for inference (deep supervision off), weights loaded, eval mode."""
    from xtiny.nnunet.networks import build_network_from_plans

    net = build_network_from_plans(model.plans, model.dataset_json, model.configuration, initialize=False)
    try:
        net.load_state_dict(model.checkpoint["network_weights"])
    except RuntimeError as exc:
        raise XTinyError(f"checkpoint {model.checkpoint_path} does not fit configuration '{model.configuration}' "
                         f"of {model.trainer_folder / 'plans.json'} ({str(exc).splitlines()[0][:200]}).",
                         fix="export the configuration the checkpoint was trained with.") from exc
    return net.eval()
