"""Small building blocks shared by the baseline architectures (written for XTiny, no third-party code)."""

from __future__ import annotations

from torch import nn


def conv_bn_act(c_in: int, c_out: int, kernel: int = 3, *, groups: int = 1,
                act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    """``Conv(k, same padding) -> BatchNorm -> activation`` (no activation when ``act`` is None)."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


def check_input_size(name: str, height: int, width: int, multiple: int) -> None:
    """Raise a clear error when a spatial size is not a multiple of the network's total stride."""
    if height % multiple or width % multiple:
        raise ValueError(f"{name} needs input height/width divisible by {multiple}, got {height}x{width}")
