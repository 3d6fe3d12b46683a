"""One device resolver for every torch step (search, training, evaluation)."""

from __future__ import annotations

from typing import Any

from xtiny.errors import XTinyError


def resolve_device(device: Any = "auto"):
    """``auto`` → CUDA when available, else CPU; ``cpu``, ``cuda``, ``cuda:N`` or a ``torch.device`` as given.

    XTinyError for an unknown name or for CUDA asked for where torch sees none.
    """
    import torch

    if isinstance(device, torch.device):
        return device
    text = str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(text)
    except RuntimeError as exc:
        raise XTinyError(f"unknown device '{device}'.", fix="use --device auto, cpu or cuda[:N].") from exc
    if dev.type not in ("cpu", "cuda"):
        raise XTinyError(f"unknown device '{device}'.", fix="use --device auto, cpu or cuda[:N].")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise XTinyError(f"--device {device} was asked for but torch sees no CUDA GPU.", fix="use --device cpu or auto.")
    return dev
