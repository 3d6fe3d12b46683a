"""Shape-only forward passes on PyTorch's meta device: count what a network would compute, at any size, for free."""

from __future__ import annotations

import copy
from typing import Any


def meta_profile(network: Any, input_shape: tuple[int, ...]) -> dict[str, int]:
    """One shape-only pass of a meta-device copy of ``network`` on a ``(1, *input_shape)`` sample:

    * ``macs``: multiply-accumulates of conv / transposed conv / linear / matmul ops, counted by
      ``torch.utils.flop_counter.FlopCounterMode`` (2 FLOPs per MAC; norms, activations and additions are not
      counted, the convention of the GFLOPs papers print);
    * ``activation_bytes``: bytes of all leaf-module outputs, a proxy for what autograd keeps per sample.

    Nothing is allocated or computed, so huge 3D patches cost the same as small ones.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    # the copy gets meta tensors in place of the parameters and buffers: no weight is ever copied
    memo: dict[int, Any] = {id(t): torch.nn.Parameter(torch.empty_like(t, device="meta"), t.requires_grad)
                            for t in network.parameters()}
    memo |= {id(t): torch.empty_like(t, device="meta") for t in network.buffers()}
    meta = copy.deepcopy(network, memo).eval()
    activation_bytes = [0]

    def hook(_module, _inputs, output):
        if isinstance(output, torch.Tensor):
            activation_bytes[0] += output.numel() * output.element_size()

    handles = [m.register_forward_hook(hook) for m in meta.modules() if not list(m.children())]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            meta(torch.zeros((1, *input_shape), device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return {"macs": int(counter.get_total_flops()) // 2, "activation_bytes": int(activation_bytes[0])}


def scaled_profile(network: Any, input_shape: tuple[int, ...], reduced_spatial: tuple[int, ...]) -> dict[str, int]:
    """:func:`meta_profile`'s two figures from one real forward at ``reduced_spatial`` (no gradients, batch 1), scaled
    by the ratio of the spatial sizes.

    Exact for a fully convolutional network when every stage divides both sizes exactly: each convolution's output
    then grows by the same ratio (nnU-Net's U-Nets at the patch sizes its planner picks, reduced to a multiple of
    the product of the strides). Counted by forward hooks (convolution, transposed convolution, linear), the
    convention of :func:`meta_profile`; no dispatch mode and no meta device, so none of the symbolic-shape machinery
    they import on first use (about 2 s) is needed. ``tests/test_probe.py`` checks it equals :func:`meta_profile`.
    """
    import math

    import torch

    channels, *spatial = input_shape
    ratio = math.prod(spatial) / math.prod(reduced_spatial)
    counts = {"macs": 0, "activation_bytes": 0}
    conv_types = (torch.nn.modules.conv._ConvNd,)

    def hook(module, inputs, output):
        if not isinstance(output, torch.Tensor):
            return
        if isinstance(module, torch.nn.modules.conv._ConvTransposeNd):
            per_input = module.out_channels // module.groups * math.prod(module.kernel_size)
            counts["macs"] += inputs[0].numel() * per_input
        elif isinstance(module, conv_types):
            counts["macs"] += output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
        elif isinstance(module, torch.nn.Linear):
            counts["macs"] += output.numel() * module.in_features
        if not list(module.children()):
            counts["activation_bytes"] += output.numel() * output.element_size()

    network.eval()  # e.g. a BatchNorm variant must not update its running statistics here
    handles = [m.register_forward_hook(hook) for m in network.modules()]
    device = next(network.parameters()).device
    try:
        with torch.no_grad():
            network(torch.zeros((1, channels, *reduced_spatial), device=device))
    finally:
        for handle in handles:
            handle.remove()
    return {k: round(v * ratio) for k, v in counts.items()}


def count_parameters(network: Any) -> int:
    """Number of parameters of a network (trainable or not; buffers such as norm statistics excluded)."""
    return int(sum(p.numel() for p in network.parameters()))
