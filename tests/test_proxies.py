"""Zero-cost proxies: one harness, finite scores, pseudo-labels."""

from __future__ import annotations

import math

import torch

from xtiny.family import add_width_family
from xtiny.nnunet.networks import build_planned_network
from xtiny.sensitivity.inputs import load_probe_inputs
from xtiny.sensitivity.proxies import PROXIES, pseudo_labels


def test_pseudo_labels():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    y = pseudo_labels(x, 4)
    assert y.shape == (2, 4, 4) and y.min() == 0 and y.max() == 3
    assert torch.equal(pseudo_labels(x, 1), torch.zeros(2, 4, 4, dtype=torch.long))


def test_all_proxies_finite(planned_bus):
    add_width_family(planned_bus, "2d", caps=[2])
    net = build_planned_network(planned_bus, "2d_xtiny2", seed=0)
    images = load_probe_inputs(planned_bus, "2d", k=3).images
    for name, fn in PROXIES.items():
        value = fn(net, images, device="cpu")
        assert isinstance(value, float) and math.isfinite(value), name
