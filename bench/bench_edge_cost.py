"""Cost of the baselines (and optionally nnU-Net plan configurations) on this CPU.

    python bench/bench_edge_cost.py [--patch 256 256] [--in-channels 3] [--dataset D --configs 2d 2d_xtiny8]

Prints one JSON line per model (params, MACs, FLOPs = 2 x MACs, peak memory, torch/onnxruntime latency with
1 and all threads, ONNX fp32/INT8 size) and writes them to bench/results/edge_cost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patch", type=int, nargs=2, default=[256, 256])
    ap.add_argument("--in-channels", type=int, default=3)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--models", nargs="*", default=None, help="baseline names (default: all)")
    ap.add_argument("--dataset", default=None, help="also measure nnU-Net configurations of this dataset")
    ap.add_argument("--configs", nargs="*", default=[])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "edge_cost.json"))
    args = ap.parse_args()

    from xtiny.evaluation.cost import measure_cost

    from xtiny.atomic import atomic_write_json
    from xtiny.models import baseline_names, build_model

    results = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()}, "models": {}}
    for name in args.models if args.models is not None else baseline_names():
        net = build_model(name, args.in_channels, args.classes)
        results["models"][name] = measure_cost(net, args.patch, args.in_channels, repeats=args.repeats)
        results["models"][name].pop("definitions")
        print(json.dumps({name: results["models"][name]}))
    if args.dataset:
        from xtiny.family import build_network, network_io, resolved_configuration  # noqa: F401
        from xtiny.paths import ensure_nnunet_env

        ensure_nnunet_env()
        for cfg in args.configs:
            _, cm, channels, _ = network_io(args.dataset, cfg)
            net = build_network(args.dataset, cfg, seed=0)
            results["models"][cfg] = measure_cost(net, list(cm.patch_size), channels, repeats=args.repeats)
            results["models"][cfg].pop("definitions")
            print(json.dumps({cfg: results["models"][cfg]}))
    atomic_write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
