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


def count_parameters(network: Any) -> int:
    """Number of parameters of a network (trainable or not; buffers such as norm statistics excluded)."""
    return int(sum(p.numel() for p in network.parameters()))
