"""TinyU-Net (Chen et al., MICCAI 2024), written from the paper's description.

Built from CMRF modules (Cascade Multi-Receptive Fields): a pointwise conv-BN-act to ``c_out/N`` channels,
split into even and odd channels; the odd half is passed through a cascade of ``N-1`` depthwise 3x3
conv-BN layers (each consuming the previous output, growing the receptive field); the two halves
are added (the linear "mixup" branch) and concatenated with all cascade outputs (``c_out/2`` channels);
a pointwise conv-BN-act restores ``c_out``; residual when ``c_in == c_out``. N = 8.
U-Net with four CMRF encoder stages (64-128-256-512, 2x2 max-pool after each), four CMRF decoder
stages (bilinear x2 upsampling, concat with skip), 1x1 head. 481.1k parameters at 3 input channels,
2 classes. Total stride 16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xtiny.models._blocks import check_input_size, conv_bn_act


class CMRF(nn.Module):
    """Cascade Multi-Receptive Fields module."""

    def __init__(self, c_in: int, c_out: int, n: int = 8) -> None:
        super().__init__()
        if c_out % (2 * n):
            raise ValueError(f"CMRF needs c_out divisible by {2 * n}, got {c_out}")
        hidden = c_out // n
        self.pw_in = conv_bn_act(c_in, hidden, 1, act=nn.SiLU)
        half = hidden // 2
        self.cascade = nn.ModuleList(conv_bn_act(half, half, 3, groups=half, act=None) for _ in range(n - 1))
        self.pw_out = conv_bn_act(c_out // 2, c_out, 1, act=nn.SiLU)
        self.residual = c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw_in(x)
        even, odd = y[:, 0::2], y[:, 1::2]
        outs = [even + odd]
        t = odd
        for dw in self.cascade:
            t = dw(t)
            outs.append(t)
        y = self.pw_out(torch.cat(outs, dim=1))
        return x + y if self.residual else y


class TinyUNet(nn.Module):
    """TinyU-Net for ``in_channels`` -> ``num_classes`` logits."""

    stride = 16

    def __init__(self, in_channels: int = 3, num_classes: int = 2,
                 widths: tuple[int, ...] = (64, 128, 256, 512)) -> None:
        super().__init__()
        ins = (in_channels,) + tuple(widths[:-1])
        self.encoders = nn.ModuleList(CMRF(a, b) for a, b in zip(ins, widths, strict=False))
        deeper = tuple(widths[1:]) + (widths[-1],)
        self.decoders = nn.ModuleList(CMRF(w + d, w) for w, d in zip(widths, deeper, strict=False))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size("TinyU-Net", x.shape[2], x.shape[3], self.stride)
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        for dec in reversed(self.decoders):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = dec(torch.cat([skips.pop(), x], dim=1))
        return self.head(x)
