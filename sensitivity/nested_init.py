"""Common random numbers across the width family: every candidate's initial weights are slices of one draw.

nnU-Net initialises each convolution with He's normal draw (``InitWeights_He(1e-2)``: std = gain / sqrt(fan_in)),
its biases with 0 and its norms with weight 1, bias 0. For one seed, the widest candidate is drawn once; a narrower
candidate takes the leading slice of each of its tensors, and each convolution's slice is rescaled by
sqrt(wide fan_in / narrow fan_in). Every entry of the slice is then an independent normal with exactly the std
nnU-Net's own draw gives at the narrow width, so each candidate's score keeps its expectation. But neighbouring
widths now share most of their weights, so the differences that decide the knee carry much less seed noise.
"""

from __future__ import annotations

import math

import torch

_SCALED = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d,
           torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d, torch.nn.Linear)


def fan_in(weight: torch.Tensor) -> int:
    """The fan-in that ``torch.nn.init.kaiming_normal_`` (mode ``fan_in``) uses for ``weight``: dim 1 times the
    kernel size. A transposed convolution's weight is (in, out, *kernel), and torch takes its dim 1 all the same."""
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    return weight.shape[1] * receptive


@torch.no_grad()
def nest_initial_weights(narrow: torch.nn.Module, wide_state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """Overwrite ``narrow``'s parameters in place with the leading slices of ``wide_state`` (the state dict of the
    widest candidate, drawn with the same seed); convolution weights are rescaled to ``narrow``'s fan-in.

    Both networks must have the same layout (the same parameter names and ranks), ``narrow`` no larger in any
    dimension: the width-capped members of one configuration do. Buffers are left as built."""
    layers = dict(narrow.named_modules())
    for name, param in narrow.named_parameters():
        if name not in wide_state:
            raise ValueError(f"nested init: the widest candidate has no parameter {name!r}: not the same layout")
        source = wide_state[name]
        if source.dim() != param.dim() or any(n > w for n, w in zip(param.shape, source.shape, strict=True)):
            raise ValueError(f"nested init: {name} is {tuple(param.shape)} here but {tuple(source.shape)} in the "
                             "widest candidate: not a narrower member of the same family")
        piece = source[tuple(slice(0, n) for n in param.shape)]
        owner = layers[name.rpartition(".")[0]]
        if name.endswith("weight") and isinstance(owner, _SCALED):
            piece = piece * math.sqrt(fan_in(source) / fan_in(param))
        param.copy_(piece)
    return narrow
