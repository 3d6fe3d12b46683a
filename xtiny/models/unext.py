"""UNeXt (Valanarasu & Patel, MICCAI 2022), written from the paper's description.

Three convolutional stages (3x3 conv, BatchNorm, ReLU, 2x2 max-pool) followed by two tokenized-MLP
stages (overlapping 3x3/stride-2 patch embedding + LayerNorm, then a shifted-MLP block: shift along
width, token MLP, depthwise 3x3 conv, GELU, shift along height, token MLP, residual). The decoder
mirrors it (conv + bilinear x2 upsampling, additive skips, two tokenized-MLP blocks at the two
deepest decoder levels). Channels 16-32-128-160-256 give the published 1.47M parameters
(3 input channels, 2 classes). Total stride 32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xtiny.models._blocks import check_input_size


def _shift(x: torch.Tensor, dim: int, groups: int = 5) -> torch.Tensor:
    """Split channels into ``groups`` chunks and roll chunk g by ``g - groups//2`` along ``dim`` (zero fill)."""
    pad = groups // 2
    padded = F.pad(x, (pad, pad, pad, pad))
    chunks = torch.chunk(padded, groups, dim=1)
    rolled = [torch.roll(c, s, dims=dim) for c, s in zip(chunks, range(-pad, pad + 1), strict=False)]
    out = torch.cat(rolled, dim=1)
    return out[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]


class ShiftedMLPBlock(nn.Module):
    """LayerNorm -> shift(W) -> Linear -> DWConv3x3 -> GELU -> shift(H) -> Linear, with a residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim)
        self.dw = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: B, C, H, W
        b, c, h, w = x.shape
        y = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        y = _shift(y, dim=3)
        y = self.fc1(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        y = F.gelu(self.dw(y))
        y = _shift(y, dim=2)
        y = self.fc2(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + y


class TokStage(nn.Module):
    """Optional overlapping patch embedding (3x3, stride 2, LayerNorm), a shifted-MLP block, LayerNorm."""

    def __init__(self, c_in: int, dim: int, embed: bool) -> None:
        super().__init__()
        self.embed = nn.Conv2d(c_in, dim, 3, stride=2, padding=1) if embed else None
        self.embed_norm = nn.LayerNorm(dim) if embed else None
        self.block = ShiftedMLPBlock(dim)
        self.norm = nn.LayerNorm(dim)

    @staticmethod
    def _ln(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
        return norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            x = self._ln(self.embed_norm, self.embed(x))
        return self._ln(self.norm, self.block(x))


class UNeXt(nn.Module):
    """UNeXt for ``in_channels`` -> ``num_classes`` logits at the input resolution."""

    stride = 32

    def __init__(self, in_channels: int = 3, num_classes: int = 2,
                 channels: tuple[int, int, int, int, int] = (16, 32, 128, 160, 256)) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = channels
        self.enc = nn.ModuleList([self._conv(a, b) for a, b in ((in_channels, c1), (c1, c2), (c2, c3))])
        self.tok4 = TokStage(c3, c4, embed=True)
        self.tok5 = TokStage(c4, c5, embed=True)
        self.dec = nn.ModuleList([self._conv(a, b) for a, b in ((c5, c4), (c4, c3), (c3, c2), (c2, c1))])
        self.dtok4 = TokStage(c4, c4, embed=False)
        self.dtok3 = TokStage(c3, c3, embed=False)
        self.dec_last = nn.Conv2d(c1, c1, 3, padding=1)
        self.head = nn.Conv2d(c1, num_classes, 1)

    @staticmethod
    def _conv(a: int, b: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size("UNeXt", x.shape[2], x.shape[3], self.stride)
        skips = []
        for conv in self.enc:
            x = F.relu(F.max_pool2d(conv(x), 2))
            skips.append(x)
        t4 = self.tok4(x)
        x = self.tok5(t4)
        skips.append(t4)
        up = lambda t: F.interpolate(t, scale_factor=2.0, mode="bilinear", align_corners=False)  # noqa: E731
        for i, conv in enumerate(self.dec):
            x = F.relu(up(conv(x))) + skips[-1 - i]
            if i == 0:
                x = self.dtok4(x)
            elif i == 1:
                x = self.dtok3(x)
        x = F.relu(up(self.dec_last(x)))
        return self.head(x)
