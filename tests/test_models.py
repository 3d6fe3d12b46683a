"""Baseline registry: published parameter counts (3 input channels, 2 classes), shapes, trainability."""

from __future__ import annotations

import pytest
import torch

from xtiny.errors import XTinyError
from xtiny.meta_pass import count_parameters
from xtiny.models import REGISTRY, build_model, display_name


@pytest.mark.parametrize("name", list(REGISTRY))
def test_published_parameter_counts(name):
    spec = REGISTRY[name]
    n = count_parameters(build_model(name, spec.published_in_channels, 2))
    assert abs(n - spec.published_params) / spec.published_params < 0.05, (name, n)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_shapes_and_backward(name):
    model = build_model(name, 1, 4)
    x = torch.randn(2, 1, 32, 64)
    y = model(x)
    assert y.shape == (2, 4, 32, 64)
    y.mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_bad_input_size_and_unknown_name():
    with pytest.raises(ValueError, match="divisible by 32"):
        build_model("unext", 1, 2)(torch.randn(1, 1, 48, 48))
    with pytest.raises(XTinyError, match="unknown model"):
        build_model("nope", 1, 2)
    assert display_name("cmunext_s") == "CMUNeXt-S" and display_name("2d_xtiny8") == "XTiny C=8"


def test_nnunet_configuration_through_registry(request, monkeypatch):
    from xtiny.nnunet.networks import build_planned_network

    planned_bus = request.getfixturevalue("planned_bus")

    net = build_model("2d", 1, 2, dataset=planned_bus, seed=0)
    ref = build_planned_network(planned_bus, "2d", seed=0)
    assert count_parameters(net) == count_parameters(ref)
    with pytest.raises(XTinyError, match="classes"):
        build_model("2d", 1, 5, dataset=planned_bus)
