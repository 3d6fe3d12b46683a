"""Where training results live (nnU-Net's layout) and small helpers to read / write them.

``$nnUNet_results/<Dataset>/<Trainer>__<Plans>__<configuration>/fold_<f>/checkpoint_final.pth`` and
``.../fold_<f>/validation/summary.json`` (nnU-Net's metrics; ``foreground_mean.Dice`` is the validation Dice).
"""

from __future__ import annotations

import io
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xtiny.atomic import atomic_write_bytes, read_json
from xtiny.errors import XTinyError
from xtiny.nnunet_api import PLANS_IDENTIFIER, plans_path
from xtiny.paths import nnunet_dirs


@dataclass
class TrainResult:
    """One finished training run.

    ``output_folder`` is the model folder ``<Trainer>__<Plans>__<configuration>`` (what nnU-Net's
    ``nnUNetPredictor.initialize_from_trained_model_folder`` and ``nnUNetv2_predict -tr/-c/-f`` take);
    ``checkpoint`` is ``output_folder/fold_<fold>/checkpoint_final.pth``.
    """

    output_folder: Path
    checkpoint: Path
    trainer_name: str
    plans_identifier: str
    configuration: str
    fold: int | str
    validation_dice: float | None
    backend: str = "nnunet"
    epochs: int | None = None
    iterations_per_epoch: int | None = None
    seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fold_folder(self) -> Path:
        return self.output_folder / f"fold_{self.fold}"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["output_folder"], out["checkpoint"] = str(self.output_folder), str(self.checkpoint)
        return out


def model_folder(dataset_name: str, trainer_name: str, configuration: str,
                 plans_identifier: str = PLANS_IDENTIFIER) -> Path:
    """nnU-Net's model folder ``$nnUNet_results/<Dataset>/<Trainer>__<Plans>__<configuration>``."""
    return nnunet_dirs().results / dataset_name / f"{trainer_name}__{plans_identifier}__{configuration}"


def parse_fold(fold: int | str) -> int | str:
    """``0``/``"0"`` → 0, ``"all"`` → ``"all"``; XTinyError otherwise."""
    if isinstance(fold, int) or (isinstance(fold, str) and fold.isdigit()):
        return int(fold)
    if fold == "all":
        return "all"
    raise XTinyError(f"invalid fold '{fold}'.", fix="use an integer fold (0-4) or 'all'.")


def load_plans(dataset_name: str, configuration: str, plans_identifier: str = PLANS_IDENTIFIER) -> dict:
    """The plans dict; XTinyError when the plans or the configuration are missing."""
    path = plans_path(dataset_name, plans_identifier)
    if not path.is_file():
        raise XTinyError(f"no nnU-Net plans for {dataset_name}: {path} is missing.",
                         fix=f"run 'xtiny search -d {dataset_name}' (or nnUNetv2_plan_and_preprocess) first.")
    plans = read_json(path, "plans file")
    configs = plans.get("configurations", {})
    if configuration not in configs:
        raise XTinyError(f"configuration '{configuration}' is not in {path} (has: {', '.join(configs)}).",
                         fix=f"pick one of them, or run 'xtiny search -d {dataset_name}' to add the 2d_xtiny family.")
    return plans


def validation_dice(fold_folder: str | os.PathLike) -> float | None:
    """``foreground_mean.Dice`` from ``fold_folder/validation/summary.json`` (None when absent)."""
    summary = Path(fold_folder) / "validation" / "summary.json"
    if not summary.is_file():
        return None
    value = read_json(summary, "validation summary").get("foreground_mean", {}).get("Dice")
    return None if value is None else float(value)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to memory, then an atomic write: a crash never leaves half a checkpoint."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def count_parameters(checkpoint: str | os.PathLike) -> int:
    """Number of weights in a checkpoint's ``network_weights`` (floating-point tensors), each tensor counted once:
    nnU-Net's state dict lists shared modules under several keys (``convs.0.conv`` = ``convs.0.all_modules.0``,
    ``decoder.encoder.*`` = ``encoder.*``), and ``torch.load`` keeps them sharing storage."""
    import torch

    from xtiny.export.checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)["network_weights"]
    unique = {(v.data_ptr(), v.numel()): v.numel() for v in state.values() if torch.is_floating_point(v)}
    return int(sum(unique.values()))


def trainer_name_for(epochs: int, iterations_per_epoch: int | None, val_iterations: int | None,
                     backend: str) -> str:
    """:func:`budget_trainer_name` with bad budgets reported as XTinyError."""
    from xtiny.training.trainer_classes import budget_trainer_name

    try:
        return budget_trainer_name(epochs, iterations_per_epoch, val_iterations, backend=backend)
    except ValueError as exc:
        raise XTinyError(f"invalid training budget: {exc}.",
                         fix="pass --epochs/--iterations >= 1 (and --val-iterations >= 1 with the nnunet backend).") from exc


def resolve_device(device: str):
    """``cpu`` | ``cuda`` | ``auto`` → torch.device; XTinyError when CUDA is asked for but absent."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise XTinyError(f"unknown device '{device}'.", fix="use --device cpu, cuda or auto.")
    if device == "cuda" and not torch.cuda.is_available():
        raise XTinyError("--device cuda was asked for but torch sees no CUDA GPU.", fix="use --device cpu.")
    return torch.device(device)
