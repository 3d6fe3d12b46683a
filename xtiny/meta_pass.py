"""Shape-only forward passes on PyTorch's meta device: count what a network would compute, at any size, for free."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any


def meta_forward_with_hooks(network: Any, input_shape: tuple[int, ...], hook: Callable,
                            select: Callable[[Any], bool]) -> None:
    """Run a meta-device copy of ``network`` on one ``(1, *input_shape)`` sample with ``hook`` on selected modules."""
    import torch

    meta = copy.deepcopy(network).to("meta").eval()
    handles = [m.register_forward_hook(hook) for m in meta.modules() if select(m)]
    try:
        with torch.no_grad():
            meta(torch.zeros((1, *input_shape), device="meta"))
    finally:
        for h in handles:
            h.remove()


def meta_profile(network: Any, input_shape: tuple[int, ...]) -> dict[str, int]:
    """One shape-only pass: ``macs`` of all (transposed) convolutions and ``activation_bytes`` of all leaf-module
    outputs for one sample of ``input_shape`` = (C, *spatial).

    A conv contributes ``out_elements * in_channels/groups * prod(kernel)``, a transposed conv
    ``in_elements * out_channels/groups * prod(kernel)``; norms, nonlinearities and bias adds are ignored (FLOPs are
    conventionally 2 x MACs). Activation bytes are a proxy for what autograd keeps per sample.
    """
    import math

    from torch import nn

    conv_types = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    tconv_types = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    totals = {"macs": 0, "activation_bytes": 0}

    def hook(module, inputs, output):
        if hasattr(output, "numel"):
            totals["activation_bytes"] += output.numel() * output.element_size()
        if isinstance(module, tconv_types):
            totals["macs"] += inputs[0].numel() * (module.out_channels // module.groups) * math.prod(module.kernel_size)
        elif isinstance(module, conv_types):
            totals["macs"] += output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)

    meta_forward_with_hooks(network, input_shape, hook, lambda m: not list(m.children()))
    return {key: int(value) for key, value in totals.items()}
