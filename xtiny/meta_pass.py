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
