"""Model registry: baselines by name, plus nnU-Net plan configurations (full ``2d`` and the XTiny family).

``build_model(name, in_channels, num_classes)`` is the single factory the training backends call.
Baselines: ``unext``, ``cmunext_s``, ``tinyunet``. nnU-Net configurations need a dataset:
``build_model("2d", 1, 2, dataset="Dataset901_SynthBus")`` (any configuration name present in the plans,
e.g. ``2d_xtiny8``) → ``xtiny.family.build_network`` (exactly as nnU-Net builds it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from xtiny.errors import XTinyError


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture: its constructor, display name, paper, published parameters and stride."""

    name: str
    display: str
    factory: Callable[[int, int], nn.Module]
    paper: str
    published_params: int
    published_in_channels: int
    divisor: int


def _unext(c: int, k: int) -> nn.Module:
    from xtiny.models.unext import UNeXt

    return UNeXt(c, k)


def _cmunext_s(c: int, k: int) -> nn.Module:
    from xtiny.models.cmunext import CMUNeXt

    return CMUNeXt(c, k)


def _tinyunet(c: int, k: int) -> nn.Module:
    from xtiny.models.tinyunet import TinyUNet

    return TinyUNet(c, k)


REGISTRY: dict[str, ModelSpec] = {
    "unext": ModelSpec("unext", "UNeXt", _unext, "Valanarasu & Patel, MICCAI 2022", 1_470_000, 3, 32),
    "cmunext_s": ModelSpec("cmunext_s", "CMUNeXt-S", _cmunext_s, "Tang et al., ISBI 2024", 417_500, 3, 16),
    "tinyunet": ModelSpec("tinyunet", "TinyU-Net", _tinyunet, "Chen et al., MICCAI 2024", 481_100, 3, 16),
}
ALIASES = {"cmunext-s": "cmunext_s", "tinyu-net": "tinyunet", "tiny_unet": "tinyunet"}


def baseline_names() -> list[str]:
    """Registered baseline names (not counting nnU-Net plan configurations)."""
    return list(REGISTRY)


def is_baseline(name: str) -> bool:
    return ALIASES.get(name.lower(), name.lower()) in REGISTRY


def get_spec(name: str) -> ModelSpec:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in REGISTRY:
        raise XTinyError(f"unknown model '{name}'.", fix=f"use one of {', '.join(REGISTRY)} or an nnU-Net "
                                                          "configuration of the dataset's plans (e.g. 2d, 2d_xtiny8).")
    return REGISTRY[key]


def display_name(name: str) -> str:
    """Human name for tables: ``cmunext_s`` → ``CMUNeXt-S``; ``2d`` → ``nnU-Net 2d``; ``2d_xtiny8`` → ``XTiny C=8``."""
    if is_baseline(name):
        return get_spec(name).display
    if name.startswith("2d_xtiny"):
        return f"XTiny C={name[len('2d_xtiny'):]}"
    return f"nnU-Net {name}"


def build_model(name: str, in_channels: int, num_classes: int, *, dataset: str | None = None,
                seed: int | None = None) -> nn.Module:
    """Build a registered baseline, or (with ``dataset``) an nnU-Net plans configuration.

    ``num_classes`` counts background (nnU-Net's label count). For plan configurations the channel and
    class counts come from the plans/dataset.json and are checked against the arguments.
    """
    if is_baseline(name):
        if seed is not None:
            import torch

            torch.manual_seed(seed)
        return get_spec(name).factory(int(in_channels), int(num_classes))
    if dataset is None:
        get_spec(name)  # raises with the list of names
    try:
        from xtiny.family import build_network
    except ImportError as exc:  # pragma: no cover - depends on another module being present
        raise XTinyError("xtiny.family is not available to build nnU-Net configurations.",
                         fix="install the full xtiny package.") from exc
    net = build_network(dataset, name, deep_supervision=False, seed=seed)
    _check_io(net, name, in_channels, num_classes)
    return net


def _check_io(net: nn.Module, name: str, in_channels: int, num_classes: int) -> None:
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Conv3d)]
    if convs and convs[0].in_channels != in_channels:
        raise XTinyError(f"configuration '{name}' takes {convs[0].in_channels} input channels, not {in_channels}.",
                         fix="pass the dataset's channel count.")
    if convs and convs[-1].out_channels != num_classes:
        raise XTinyError(f"configuration '{name}' predicts {convs[-1].out_channels} classes, not {num_classes}.",
                         fix="pass the dataset's label count (background included).")
