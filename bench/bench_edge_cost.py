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
    from xtiny.models import baseline_names, build_model

    results = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()}, "models": {}}
    for name in args.models if args.models is not None else baseline_names():
        net = build_model(name, args.in_channels, args.classes)
        results["models"][name] = measure_cost(net, args.patch, args.in_channels, repeats=args.repeats)
        results["models"][name].pop("definitions")
        print(json.dumps({name: results["models"][name]}))
    if args.dataset:
        from xtiny.nnunet.networks import build_planned_network, planned_network_io
        from xtiny.paths import ensure_nnunet_env

        ensure_nnunet_env()
        for cfg in args.configs:
            _, cm, channels, _ = planned_network_io(args.dataset, cfg)
            net = build_planned_network(args.dataset, cfg, seed=0)
            results["models"][cfg] = measure_cost(net, list(cm.patch_size), channels, repeats=args.repeats)
            results["models"][cfg].pop("definitions")
            print(json.dumps({cfg: results["models"][cfg]}))
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import write_result

    def ms(v, key):
        return None if v.get("latency_ms", {}).get(key) is None else round(v["latency_ms"][key], 2)

    rows = [[name, v["params"], round(v["flops"] / 1e9, 3), None if v["peak_mem_mb"] is None else round(v["peak_mem_mb"], 1),
             ms(v, "torch_1t"), ms(v, "torch_all"), ms(v, "ort_1t"), ms(v, "ort_all"),
             round(v["size_fp32_bytes"] / 2**20, 2), round(v["size_int8_bytes"] / 2**20, 2)]
            for name, v in results["models"].items()]
    path = write_result(Path(args.out).stem, f"Cost of the baselines on this CPU, {args.patch[0]}x{args.patch[1]}, "
                        f"{args.in_channels} input channel(s)",
                        ["model", "params", "GFLOPs", "peak MiB", "torch 1t ms", "torch all ms", "ort 1t ms",
                         "ort all ms", "ONNX fp32 MiB", "ONNX int8 MiB"], rows,
                        notes=[f"Load average {os.getloadavg()[0]:.2f} at the end; GFLOPs = 2 x MACs of one patch; "
                               "'all' = all cores of this machine."], models=results["models"])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
