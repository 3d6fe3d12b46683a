"""Find a trained nnU-Net (or MONAI-backend) model folder and load its checkpoint safely."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xtiny.errors import XTinyError

PLANS_IDENTIFIER = "nnUNetPlans"


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
    """``$nnUNet_results/<dataset>/<trainer>__<plans>__<configuration>``; refuses none or several (export must
    be explicit, unlike evaluation's ``find_model_folder`` which prefers ``nnUNetTrainer``)."""
    from xtiny.nnunet_api import trainer_folders
    from xtiny.paths import nnunet_dirs

    root = nnunet_dirs().results / dataset_name
    suffix = f"__{plans_identifier}__{configuration}"
    folders = trainer_folders(dataset_name, configuration, plans_identifier)
    found = [p for t, p in folders.items() if trainer in (None, "", t)]
    if not found:
        raise XTinyError(f"no trained model '*{suffix}'{f' for trainer {trainer}' if trainer else ''} in {root}.",
                         fix=f"train it first: xtiny train -d {dataset_name} -c {configuration}.")
    if len(found) > 1:
        names = ", ".join(folders)
        raise XTinyError(f"several trainers have results for {configuration} in {root}: {names}.",
                         fix="pick one with --trainer NAME.")
    return found[0]


def _safe_globals() -> list:
    """The few non-tensor types an nnU-Net checkpoint carries (numpy scalars in its log, the device)."""
    import numpy as np
    import torch

    allowed: list[Any] = [torch.device, np.dtype, np.core.multiarray.scalar if hasattr(np, "core") else None]
    try:
        from numpy._core.multiarray import scalar
        allowed.append(scalar)
    except ImportError:  # pragma: no cover - older numpy
        pass
    allowed += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    return [a for a in allowed if a is not None]


def load_checkpoint(path: str | Path) -> dict:
    """``torch.load(weights_only=True)`` with an explicit allow-list; a foreign or corrupt file → XTinyError."""
    import pickle
    import warnings

    import torch

    path = Path(path)
    if not path.is_file():
        raise XTinyError(f"checkpoint not found: {path}.", fix="train the model first, or pass --checkpoint-name.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.serialization.safe_globals(_safe_globals()):
                checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError) as exc:
        raise XTinyError(f"cannot load checkpoint {path}: not a readable nnU-Net checkpoint "
                         f"({str(exc).splitlines()[0][:200]}).",
                         fix="re-train or restore the checkpoint; only nnU-Net-format checkpoints are accepted.") from exc
    if not isinstance(checkpoint, dict) or "network_weights" not in checkpoint:
        raise XTinyError(f"{path} is not an nnU-Net checkpoint (no 'network_weights').",
                         fix="point to checkpoint_final.pth / checkpoint_best.pth written by nnU-Net's trainer.")
    return checkpoint


def _json(path: Path) -> dict:
    if not path.is_file():
        raise XTinyError(f"{path} not found next to the trained model.", fix="re-run training; the folder is incomplete.")
    return json.loads(path.read_text(encoding="utf-8"))


def load_trained_model(dataset_name: str, configuration: str, fold: int | str = 0, *, trainer: str | None = None,
                       checkpoint_name: str = "checkpoint_final.pth") -> TrainedModel:
    """Locate and load a trained model (plans and dataset.json from the results folder, as nnU-Net does)."""
    folder = find_trainer_folder(dataset_name, configuration, trainer)
    fold_dir = folder / f"fold_{fold}"
    ckpt_path = fold_dir / checkpoint_name
    if not ckpt_path.is_file() and checkpoint_name == "checkpoint_final.pth" and (fold_dir / "checkpoint_best.pth").is_file():
        ckpt_path = fold_dir / "checkpoint_best.pth"
    checkpoint = load_checkpoint(ckpt_path)
    return TrainedModel(dataset_name, configuration, fold, folder, ckpt_path, _json(folder / "plans.json"),
                        _json(folder / "dataset.json"), checkpoint)


def build_network(model: TrainedModel):
    """The network as nnU-Net builds it for inference (deep supervision off), weights loaded, eval mode."""
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans = PlansManager(model.plans)
    config = plans.get_configuration(model.configuration)
    channels = determine_num_input_channels(plans, config, model.dataset_json)
    heads = plans.get_label_manager(model.dataset_json).num_segmentation_heads
    net = get_network_from_plans(config.network_arch_class_name, config.network_arch_init_kwargs,
                                 config.network_arch_init_kwargs_req_import, channels, heads,
                                 allow_init=False, deep_supervision=False)
    try:
        net.load_state_dict(model.checkpoint["network_weights"])
    except RuntimeError as exc:
        raise XTinyError(f"checkpoint {model.checkpoint_path} does not fit configuration '{model.configuration}' "
                         f"of {model.trainer_folder / 'plans.json'} ({str(exc).splitlines()[0][:200]}).",
                         fix="export the configuration the checkpoint was trained with.") from exc
    return net.eval()
