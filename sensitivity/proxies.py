"""Zero-cost proxies in one harness: same interface as the Jacobian probe, so a benchmark can compare them.

Every proxy is ``fn(network, images, *, device) -> float`` with ``network`` an He-initialized nnU-Net network
(deep supervision off) and ``images`` the probe inputs (K, C, *patch). The network is never modified:
proxies that alter weights work on a deep copy.

Labels: the probe is label-free, so proxies that need a loss (GradNorm, SNIP, ZiCo) use **pseudo-labels**:
each image's first channel is split into ``heads`` classes at its own intensity quantiles (class j = the
j-th intensity band). They are deterministic, need no annotation, and give the loss a spatially structured
target; the proxies are documented in the literature as weakly label-sensitive at initialization.
Loss: pixel-wise cross-entropy over the network's output heads (mean over pixels and samples).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xtiny.devices import resolve_device
from xtiny.registry import Registry
from xtiny.sensitivity.probe import chunk_size_for, jacobian_score, primary_logits

PROXIES: Registry[Callable[..., float]] = Registry("proxy")


def _as_tensor(images) -> torch.Tensor:
    return torch.as_tensor(np.asarray(images, dtype=np.float32))


def pseudo_labels(images: torch.Tensor, heads: int) -> torch.Tensor:
    """(K, *spatial) int64 labels: per-image intensity-quantile bands of channel 0 into ``heads`` classes."""
    x = images[:, 0].flatten(1)
    if heads < 2:
        return torch.zeros(images[:, 0].shape, dtype=torch.long)
    qs = torch.linspace(0, 1, heads + 1)[1:-1]
    edges = torch.quantile(x, qs, dim=1).T.contiguous()  # (K, heads-1)
    labels = torch.searchsorted(edges, x.contiguous(), right=True)
    return labels.reshape(images[:, 0].shape)


def _heads(network: nn.Module, images: torch.Tensor, device: torch.device) -> int:
    with torch.no_grad():
        return int(primary_logits(network(images[:1].to(device))).shape[1])


def _loss_grads(network: nn.Module, images, device: torch.device, groups: int = 1) -> list[list[torch.Tensor | None]]:
    """Gradients of the pseudo-label CE w.r.t. every parameter, one list per group of images."""
    network = network.to(device)
    network.eval()
    for p in network.parameters():
        p.requires_grad_(True)
    x_all = _as_tensor(images)
    y_all = pseudo_labels(x_all, _heads(network, x_all, device))
    chunk = chunk_size_for(network, tuple(x_all.shape[1:]), device)
    results = []
    for part in np.array_split(np.arange(len(x_all)), groups):
        network.zero_grad(set_to_none=True)
        for start in range(0, len(part), chunk):
            idx = torch.as_tensor(part[start:start + chunk])
            out = primary_logits(network(x_all[idx].to(device)))
            loss = F.cross_entropy(out, y_all[idx].to(device), reduction="sum") / y_all[part].numel()
            loss.backward()
        results.append([None if p.grad is None else p.grad.detach().clone() for p in network.parameters()])
    network.zero_grad(set_to_none=True)
    return results


@PROXIES.register("jacobian")
def jacobian(network: nn.Module, images, *, device="cpu") -> float:
    """The paper's probe (mean input-gradient norm), for the comparison table."""
    return jacobian_score(copy.deepcopy(network), images, device=device)


@PROXIES.register("gradnorm")
def gradnorm(network: nn.Module, images, *, device="cpu") -> float:
    """GradNorm: sum over parameter tensors of ``||dL/dθ||_2`` (pseudo-label CE)."""
    net = copy.deepcopy(network)
    (grads,) = _loss_grads(net, images, resolve_device(device))
    return float(sum(g.double().norm() for g in grads if g is not None))


@PROXIES.register("snip")
def snip(network: nn.Module, images, *, device="cpu") -> float:
    """SNIP saliency: ``sum |θ · dL/dθ|`` over all parameters (pseudo-label CE)."""
    net = copy.deepcopy(network)
    (grads,) = _loss_grads(net, images, resolve_device(device))
    return float(sum((p.detach().double() * g.double()).abs().sum()
                     for p, g in zip(net.parameters(), grads, strict=True) if g is not None))


@PROXIES.register("zico")
def zico(network: nn.Module, images, *, device="cpu", groups: int = 4) -> float:
    """ZiCo: ``sum over weight tensors of log( sum_θ mean|g| / std(g) )``, statistics over ``groups`` mini-batches.

    The K images are split into ``min(groups, K)`` mini-batches (at least 2 needed for a standard deviation);
    elements with zero std are skipped; tensors whose sum is 0 contribute nothing.
    """
    net = copy.deepcopy(network)
    n = max(2, min(groups, len(images)))
    per_group = _loss_grads(net, images, resolve_device(device), groups=n)
    total = 0.0
    for i, p in enumerate(net.parameters()):
        if p.dim() < 2 or per_group[0][i] is None:
            continue  # conv weights only, as in the original
        g = torch.stack([grads[i] for grads in per_group]).double()
        mean, std = g.abs().mean(0), g.std(0)
        mask = std > 0
        s = float((mean[mask] / std[mask]).sum())
        if s > 0:
            total += math.log(s)
    return total


@PROXIES.register("naswot")
def naswot(network: nn.Module, images, *, device="cpu") -> float:
    """NASWOT: ``log|det K_H|`` with ``K_H[i, j]`` = number of activation units on which images i and j agree.

    Binary codes are the signs (> 0) of every nonlinearity's output (LeakyReLU: same as its input's sign),
    accumulated layer by layer in one no-grad forward over all K images (so K is K×K, never K×units).
    """
    device = resolve_device(device)
    net = copy.deepcopy(network).to(device).eval()
    x = _as_tensor(images).to(device)
    kmat = torch.zeros((x.shape[0], x.shape[0]), dtype=torch.float64, device=device)

    def hook(_m, _i, out):
        c = (out.flatten(1) > 0).double()
        kmat.add_(c @ c.T + (1 - c) @ (1 - c).T)

    acts = (nn.LeakyReLU, nn.ReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU)
    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, acts)]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(kmat)
    return float(logdet) if float(sign) > 0 else float("-inf")


@PROXIES.register("synflow")
def synflow(network: nn.Module, images, *, device="cpu") -> float:
    """SynFlow: ``sum |θ · dR/dθ|`` with ``R = sum(f_|θ|(1))`` (all-ones input, absolute weights, float64).

    Data-independent (images only give the input shape). Note: nnU-Net's InstanceNorm re-normalizes the
    constant input, so SynFlow's layer-wise conservation argument does not hold exactly here; reported as is.
    """
    device = resolve_device(device)
    net = copy.deepcopy(network).to(device).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    for p in net.parameters():
        p.requires_grad_(True)
    shape = tuple(np.asarray(images).shape[1:])
    primary_logits(net(torch.ones((1, *shape), dtype=torch.float64, device=device))).sum().backward()
    return float(sum((p.detach() * p.grad).abs().sum() for p in net.parameters() if p.grad is not None))

