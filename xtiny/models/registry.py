"""Model registry: baselines by name, plus nnU-Net plan configurations (full ``2d`` and the XTiny family).

``build_model(name, in_channels, num_classes)`` is the factory the MONAI training backend and evaluation call for
every network they build. Baselines: ``unext``, ``cmunext_s``, ``tinyunet``. nnU-Net configurations need a dataset:
``build_model("2d", 1, 2, dataset="Dataset901_SynthBus")`` (any configuration name present in the plans,
e.g. ``2d_xtiny8``) → :func:`xtiny.nnunet.networks.build_planned_network` (exactly as nnU-Net builds it). The
nnU-Net backend builds its networks inside nnU-Net's own trainer, from the same plans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from xtiny.errors import XTinyError
from xtiny.nnunet.width_names import width_label
from xtiny.registry import Registry


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


REGISTRY: Registry[ModelSpec] = Registry("model", [(spec.name, spec) for spec in (
    ModelSpec("unext", "UNeXt", _unext, "Valanarasu & Patel, MICCAI 2022", 1_470_000, 3, 32),
    ModelSpec("cmunext_s", "CMUNeXt-S", _cmunext_s, "Tang et al., ISBI 2024", 417_500, 3, 16),
    ModelSpec("tinyunet", "TinyU-Net", _tinyunet, "Chen et al., MICCAI 2024", 481_100, 3, 16),
)], hint=" or an nnU-Net configuration of the dataset's plans (e.g. 2d, 2d_xtiny8)")
ALIASES = {"cmunext-s": "cmunext_s", "tinyu-net": "tinyunet", "tiny_unet": "tinyunet"}


def baseline_names() -> list[str]:
    """Registered baseline names (not counting nnU-Net plan configurations)."""
    return REGISTRY.names()


def is_baseline(name: str) -> bool:
    return ALIASES.get(name.lower(), name.lower()) in REGISTRY


def get_spec(name: str) -> ModelSpec:
    """The registered baseline ``name`` (case and aliases such as ``cmunext-s`` accepted); XTinyError otherwise."""
    return REGISTRY.get(ALIASES.get(name.lower(), name.lower()))


def display_name(name: str) -> str:
    """Human name for tables: ``cmunext_s`` → ``CMUNeXt-S``; ``2d`` → ``nnU-Net 2d``; a width candidate
    (``2d_xtiny8``, ``3d_fullres_xtiny8``) → :func:`xtiny.nnunet.width_names.width_label`."""
    if is_baseline(name):
        return get_spec(name).display
    return width_label(name) or f"nnU-Net {name}"


def build_model(name: str, in_channels: int, num_classes: int, *, dataset: str | None = None,
                seed: int | None = None, patch_size=None) -> nn.Module:
    """Build a registered baseline, or (with ``dataset``) an nnU-Net plans configuration.

    ``num_classes`` counts background (nnU-Net's label count). For plan configurations the channel and
    class counts come from the plans/dataset.json and are checked against the arguments. ``patch_size`` (optional)
    is checked against a baseline's stride.
    """
    if is_baseline(name):
        spec = get_spec(name)
        if patch_size is not None and any(int(p) % spec.divisor for p in patch_size):
            raise XTinyError(f"{spec.display} needs a patch size divisible by {spec.divisor}; the patch is "
                             f"{list(patch_size)}.",
                             fix="train the baseline on a dataset whose 2d patch is a multiple of that stride.")
        if seed is not None:
            import torch

            torch.manual_seed(seed)
        return get_spec(name).factory(int(in_channels), int(num_classes))
    if dataset is None:
        get_spec(name)  # raises with the list of names
    from xtiny.nnunet.networks import build_planned_network

    net = build_planned_network(dataset, name, deep_supervision=False, seed=seed)
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
