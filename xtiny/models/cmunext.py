"""CMUNeXt (Tang et al., ISBI 2024), written from the paper's description; default widths = CMUNeXt-S.

Stem 3x3 conv-BN-ReLU, then five stages of CMUNeXt blocks (large-kernel depthwise conv with a residual,
GELU, BN; inverted bottleneck of two 1x1 convs, x4 expansion, GELU+BN each; then a 3x3 conv-BN-ReLU
changing the width), 2x2 max-pooling between stages. Decoder: upsample x2 + 3x3 conv-BN-ReLU, concat
with the skip, "skip-fusion" block (3x3 group conv with 2 groups, 1x1 to 4x, 1x1 back; GELU+BN each).
CMUNeXt-S: widths 8-16-32-64-128, depth 1 per stage, kernels 3-3-7-7-9 (417.5k parameters at 3 input
channels, 2 classes). Total stride 16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xtiny.models._blocks import check_input_size


def _conv_gelu_bn(c_in: int, c_out: int, kernel: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups), nn.GELU(),
                         nn.BatchNorm2d(c_out))


class _Residual(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def cmunext_block(c_in: int, c_out: int, depth: int, kernel: int) -> nn.Sequential:
    """``depth`` x (residual depthwise kxk, 1x1 expand x4, 1x1 project), then a 3x3 conv to ``c_out``."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [_Residual(_conv_gelu_bn(c_in, c_in, kernel, groups=c_in)),
                   _conv_gelu_bn(c_in, 4 * c_in, 1), _conv_gelu_bn(4 * c_in, c_in, 1)]
    layers.append(_bias_conv_bn_relu(c_in, c_out))
    return nn.Sequential(*layers)


def _bias_conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def skip_fusion(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 group conv (2 groups) -> 1x1 to 4*c_out -> 1x1 to c_out, each followed by GELU and BN."""
    return nn.Sequential(_conv_gelu_bn(c_in, c_in, 3, groups=2), _conv_gelu_bn(c_in, 4 * c_out, 1),
                         _conv_gelu_bn(4 * c_out, c_out, 1))


class CMUNeXt(nn.Module):
    """CMUNeXt; ``dims/depths/kernels`` default to the S variant."""

    stride = 16

    def __init__(self, in_channels: int = 3, num_classes: int = 2,
                 dims: tuple[int, ...] = (8, 16, 32, 64, 128), depths: tuple[int, ...] = (1, 1, 1, 1, 1),
                 kernels: tuple[int, ...] = (3, 3, 7, 7, 9)) -> None:
        super().__init__()
        self.stem = _bias_conv_bn_relu(in_channels, dims[0])
        ins = (dims[0],) + tuple(dims[:-1])
        self.encoders = nn.ModuleList(cmunext_block(a, b, d, k) for a, b, d, k in zip(ins, dims, depths, kernels, strict=False))
        self.ups = nn.ModuleList(nn.Sequential(nn.Upsample(scale_factor=2), _bias_conv_bn_relu(dims[i + 1], dims[i]))
                                 for i in reversed(range(len(dims) - 1)))
        self.fusions = nn.ModuleList(skip_fusion(2 * dims[i], dims[i]) for i in reversed(range(len(dims) - 1)))
        self.head = nn.Conv2d(dims[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size("CMUNeXt", x.shape[2], x.shape[3], self.stride)
        x = self.stem(x)
        skips = []
        for i, enc in enumerate(self.encoders):
            x = enc(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for up, fuse in zip(self.ups, self.fusions, strict=False):
            x = fuse(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)
