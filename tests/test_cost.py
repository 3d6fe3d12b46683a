"""Cost measures on a small network whose MACs are known by hand."""

from __future__ import annotations

from torch import nn

from xtiny.evaluation.cost import macs_and_flops, measure_cost


def _tiny() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(), nn.Conv2d(4, 2, 1, bias=False))


def test_macs_by_hand():
    c = macs_and_flops(_tiny(), (16, 16))
    assert c["macs"] == 16 * 16 * (4 * 9 + 2 * 4)
    assert c["flops"] == 2 * c["macs"]


def test_measure_cost_all_fields():
    r = measure_cost(_tiny(), (32, 32), repeats=2, warmup=1)
    assert r["params"] == 4 * 9 + 2 * 4 and r["in_channels"] == 1
    assert set(r["latency_ms"]) == {"torch_1t", "torch_all", "ort_1t", "ort_all"}
    assert all(v > 0 for v in r["latency_ms"].values())
    assert r["size_fp32_bytes"] > 0 and r["size_int8_bytes"] > 0
    assert r["peak_mem_mb"] is None or r["peak_mem_mb"] >= 0
    assert "2 * macs" in r["definitions"]["flops"]
