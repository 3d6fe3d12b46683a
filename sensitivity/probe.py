"""The Jacobian sensitivity probe: ``s(x) = || d(sum of all output logits) / dx ||_2`` per image, batched.

Why one batched backward gives every per-sample gradient: nnU-Net's networks normalize with
InstanceNorm (statistics per sample and channel), convolutions act per sample, so output ``i`` depends only
on input ``i``. Then ``d(sum over the batch of all logits)/d x_i = d(sum of logits_i)/d x_i`` exactly.

Mode: the network runs in ``eval()``. With nnU-Net's InstanceNorm (``track_running_stats=False``) train and
eval compute the same thing, and dropout is off in nnU-Net's plans; eval additionally guarantees that a
plans variant with dropout stays deterministic and that a BatchNorm variant would use (fixed) running
statistics, which keeps samples independent, the property the batched gradient relies on (train-mode
BatchNorm would couple the samples of a batch). Parameters are frozen (``requires_grad=False``) so the
backward computes input gradients only, no weight gradients.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from xtiny.devices import resolve_device

DEFAULT_CPU_BUDGET = 1.5 * 2**30  # bytes of activations per chunk on CPU (keeps the whole search < 4 GiB)
# On CPU a big batch does not pay: convolutions are already parallel over threads within one image, and a
# batch whose activations outgrow the caches runs 2-3x slower per image (bench/bench_probe_chunks.py: on
# 2 cores, 256 px, chunk 2 beats chunk 32 for every width). So CPU chunks hold one image per thread.


def activation_bytes_per_sample(network: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """Bytes of all module outputs for one sample (shape-only pass on the meta device; a proxy for autograd memory)."""
    from xtiny.meta_pass import meta_profile

    return meta_profile(network, input_shape)["activation_bytes"]


def chunk_size_for(network: torch.nn.Module, input_shape: tuple[int, ...], device: torch.device,
                   budget_bytes: float | None = None, activation_bytes: int | None = None) -> int:
    """Samples per forward+backward: as many as the memory budget allows (at least 1); on CPU at most one per
    intra-op thread (cache-friendly, see ``DEFAULT_CPU_BUDGET``'s note). ``activation_bytes`` (per sample, e.g.
    from a cached :func:`xtiny.meta_pass.meta_profile`) saves the shape-only pass."""
    if budget_bytes is None:
        if device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(device)
            budget_bytes = 0.5 * free
        else:
            budget_bytes = DEFAULT_CPU_BUDGET
    if activation_bytes is None:
        activation_bytes = activation_bytes_per_sample(network, input_shape)
    per_sample = 2 * activation_bytes  # saved activations + their grads
    fits = max(1, int(budget_bytes // max(per_sample, 1)))
    return fits if device.type != "cpu" else min(fits, max(1, torch.get_num_threads()))


def swap_instance_norms(network: torch.nn.Module) -> torch.nn.Module:
    """Replace every InstanceNorm without running statistics (nnU-Net's) by ``GroupNorm`` with one group per
    channel, sharing its affine parameters: the same function (mean and biased variance per sample and channel, the
    same eps), computed by PyTorch's group-norm kernels, which run the probe's forward + backward faster on CPU
    (``bench/bench_probe_speed.py``: norms within 1e-4 of the as-built per-image loop). In place; returns it."""
    swapped: dict[int, torch.nn.GroupNorm] = {}  # one module may be held twice (e.g. ``.norm`` and ``.all_modules``)
    for module in list(network.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, torch.nn.modules.instancenorm._InstanceNorm) and not child.track_running_stats:
                if id(child) not in swapped:
                    group = torch.nn.GroupNorm(child.num_features, child.num_features, eps=child.eps,
                                               affine=child.affine)
                    if child.affine:
                        group.weight, group.bias = child.weight, child.bias
                    swapped[id(child)] = group
                setattr(module, child_name, swapped[id(child)])
    return network


def _prepare(network: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    network = network.to(device)
    network.eval()
    for p in network.parameters():
        p.requires_grad_(False)
    return network


def primary_logits(output) -> torch.Tensor:
    """The full-resolution logits of a network output (a tensor, or deep supervision's list, highest first)."""
    return output[0] if isinstance(output, (list, tuple)) else output


def jacobian_norms(network: torch.nn.Module, images: np.ndarray | torch.Tensor, *, device: str | torch.device = "cpu",
                   chunk_size: int | None = None, allow_tf32: bool = False) -> np.ndarray:
    """Per-image ``|| d(sum logits)/dx ||_2`` for ``images`` (K, C, *spatial), float64 array of length K.

    Batched: one backward per chunk of ``chunk_size`` images (default: ``chunk_size_for``). On CUDA the convolutions
    run in fp32: PyTorch's default lets cuDNN use TF32, which moves the norms by ~1e-3 relative, and it is allowed
    here only with ``allow_tf32`` (``bench/bench_probe_speed.py`` measures both).
    """
    device = resolve_device(device)
    network = _prepare(network, device)
    x_all = torch.as_tensor(np.asarray(images, dtype=np.float32))
    if chunk_size is None:
        chunk_size = chunk_size_for(network, tuple(x_all.shape[1:]), device)
    out = []
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = allow_tf32  # fp32 convolutions on CUDA unless asked
    try:
        for start in range(0, x_all.shape[0], chunk_size):
            x = x_all[start:start + chunk_size].to(device).requires_grad_(True)
            primary_logits(network(x)).sum().backward()
            out.append(x.grad.flatten(1).double().norm(dim=1).cpu())
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    return torch.cat(out).numpy()


def jacobian_norms_loop(network: torch.nn.Module, images: np.ndarray, *, device: str | torch.device = "cpu"
                        ) -> np.ndarray:
    """Reference: one image at a time (the authors' per-image loop). Used by tests and the benchmark."""
    return np.concatenate([jacobian_norms(network, images[i:i + 1], device=device, chunk_size=1)
                           for i in range(len(images))])


def jacobian_score(network: torch.nn.Module, images: np.ndarray, *, device: str | torch.device = "cpu",
                   chunk_size: int | None = None) -> float:
    """Candidate score ``S = mean over images of s(x)``."""
    norms = jacobian_norms(network, images, device=device, chunk_size=chunk_size)
    score = float(np.mean(norms))
    return score if math.isfinite(score) else float("nan")
