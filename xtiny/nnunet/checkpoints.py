"""nnU-Net checkpoints: loaded safely (``weights_only`` with an explicit allow-list), saved atomically."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from xtiny.atomic import atomic_write_bytes
from xtiny.errors import XTinyError


def _safe_globals() -> list:
    """The few non-tensor types an nnU-Net checkpoint carries (numpy scalars in its log, the device)."""
    import numpy as np
    import torch

    allowed: list[Any] = [torch.device, np.dtype]
    try:
        from numpy._core.multiarray import scalar
        allowed.append(scalar)
    except ImportError:  # pragma: no cover - older numpy
        from numpy.core.multiarray import scalar
        allowed.append(scalar)
    allowed += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    return allowed


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


def save_checkpoint_atomically(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to memory, then an atomic write: a crash never leaves half a checkpoint."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def resume_trainer(trainer: Any, continue_training: bool) -> None:
    """Load into nnU-Net's ``trainer`` the checkpoint ``nnUNetv2_train --c`` continues from (nnU-Net's own
    ``maybe_load_checkpoint``); nothing without ``continue_training``."""
    from nnunetv2.run.run_training import maybe_load_checkpoint

    maybe_load_checkpoint(trainer, continue_training, False)


def count_checkpoint_parameters(checkpoint: str | os.PathLike | dict) -> int:
    """Number of weights in a checkpoint's ``network_weights`` (floating-point tensors), each tensor counted once:
    nnU-Net's state dict lists shared modules under several keys (``convs.0.conv`` = ``convs.0.all_modules.0``,
    ``decoder.encoder.*`` = ``encoder.*``), and ``torch.load`` keeps them sharing storage."""
    import torch

    state = (checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint))["network_weights"]
    unique = {(v.data_ptr(), v.numel()): v.numel() for v in state.values() if torch.is_floating_point(v)}
    return int(sum(unique.values()))
