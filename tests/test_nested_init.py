"""Nested initialisation: every candidate still starts exactly as nnU-Net's He draw would start it, while
neighbouring widths share their random numbers; the search records which draw it used."""

from __future__ import annotations

import math

import pytest
import torch

from xtiny.family import add_width_family
from xtiny.nnunet.networks import build_planned_network
from xtiny.search import SearchSettings, run_search
from xtiny.sensitivity.nested_init import fan_in, nest_initial_weights

SEEDS = range(24)
HE_GAIN = math.sqrt(2.0 / (1 + 1e-2 ** 2))  # InitWeights_He(1e-2): kaiming_normal_ with a = 0.01


def _convolutions(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: m.weight for name, m in net.named_modules()
            if isinstance(m, torch.nn.modules.conv._ConvNd)}


def _nested(dataset: str, narrow: str, widest: str, seed: int) -> torch.nn.Module:
    return nest_initial_weights(build_planned_network(dataset, narrow, seed=seed),
                                build_planned_network(dataset, widest, seed=seed).state_dict())


@pytest.mark.parametrize("narrow", ["2d_xtiny4", "2d_xtiny32"])
def test_each_layer_has_the_weight_statistics_of_nnunets_own_he_draw(planned_cardiac: str, narrow: str) -> None:
    """Over 24 seeds, every convolution's weights (mean, std, and the std's deviation from gain/sqrt(fan_in)) match
    an independent He draw of the same candidate within sampling error; biases 0, norm weights 1, biases 0."""
    names = add_width_family(planned_cardiac, "2d")
    widest = names[0]
    nested = {n: [] for n in _convolutions(build_planned_network(planned_cardiac, narrow, seed=0))}
    independent = {n: [] for n in nested}
    for seed in SEEDS:
        net = _nested(planned_cardiac, narrow, widest, seed)
        for name, param in net.named_parameters():
            if name.endswith("bias") or ".norm." in name:
                expected = 1.0 if (".norm." in name and name.endswith("weight")) else 0.0
                assert torch.all(param == expected), name
        for target, built in ((nested, net), (independent, build_planned_network(planned_cardiac, narrow,
                                                                                  seed=1000 + seed))):
            for name, weight in _convolutions(built).items():
                target[name].append(weight.detach().flatten())
    layers = _convolutions(build_planned_network(planned_cardiac, narrow, seed=0))
    for name, draws in nested.items():
        values, reference = torch.cat(draws), torch.cat(independent[name])
        n = values.numel()
        expected_std = HE_GAIN / math.sqrt(fan_in(layers[name]))
        tolerance = 5 / math.sqrt(2 * n)  # 5 standard errors of a sample std
        assert abs(values.std().item() / expected_std - 1) < tolerance, (name, values.std().item(), expected_std)
        assert abs(reference.std().item() / expected_std - 1) < tolerance, name  # the test's own yardstick
        assert abs(values.mean().item()) < 5 * expected_std / math.sqrt(n), name


def test_neighbouring_widths_share_their_draw_and_the_widest_is_nnunets_own(planned_cardiac: str) -> None:
    names = add_width_family(planned_cardiac, "2d")
    widest = names[0]
    own = build_planned_network(planned_cardiac, widest, seed=7).state_dict()
    cap16 = _nested(planned_cardiac, "2d_xtiny16", widest, 7)
    cap8 = _nested(planned_cardiac, "2d_xtiny8", widest, 7)
    for name, weight in _convolutions(cap8).items():
        wider = dict(cap16.named_parameters())[f"{name}.weight"]
        piece = wider[tuple(slice(0, s) for s in weight.shape)]
        scale = math.sqrt(fan_in(wider) / fan_in(weight))
        assert torch.allclose(weight, piece * scale), name  # cap 8 is the slice of cap 16: common random numbers
        source = own[f"{name}.weight"][tuple(slice(0, s) for s in weight.shape)]
        assert torch.allclose(weight, source * math.sqrt(fan_in(own[f"{name}.weight"]) / fan_in(weight)))
    with pytest.raises(ValueError, match="not a narrower member"):
        nest_initial_weights(build_planned_network(planned_cardiac, widest, seed=0), cap8.state_dict())


def test_search_records_its_draw_and_the_widest_scores_alike_either_way(planned_bus: str) -> None:
    caps = [16, 8, 4, 2, 1]
    nested = run_search(planned_bus, "2d", SearchSettings(k=2, seeds=[3], device="cpu", caps=caps, confidence=None),
                        progress=False, write=False)
    independent = run_search(planned_bus, "2d", SearchSettings(k=2, seeds=[3], device="cpu", caps=caps,
                                                               confidence=None, nested_init=False),
                             progress=False, write=False)
    assert nested["init"] == "nested in 2d_xtiny16" and independent["init"] == "independent"
    scores = [[c["score"] for c in r["candidates"]] for r in (nested, independent)]
    assert scores[0][0] == pytest.approx(scores[1][0])  # the widest draw is the same in both
    assert scores[0][1:] != pytest.approx(scores[1][1:])  # the narrower ones are not: not served from one cache
