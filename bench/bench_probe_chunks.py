"""Benchmark: Jacobian-probe wall time per width against the chunk size (images per backward pass).

    .venv/bin/python bench/bench_probe_chunks.py [--k 32] [--size 256] [--caps 512,64,16,8,1] [--chunks 1,2,4,8,32]

Evidence for the probe's CPU default (``sensitivity/probe.py``: one image per intra-op thread): the same
synthetic BUS dataset as ``bench_search.py`` (id 990, reused when present), K images, seed 0, each
(width, chunk) timed once in this process, side by side. Writes ``bench/results/probe_chunks_<device>.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import device_tag, load_average, synthetic_dataset, write_result  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--caps", type=_ints, default=_ints("512,64,16,8,1"))
    ap.add_argument("--chunks", type=_ints, default=_ints("1,2,4,8,32"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--work", default=os.environ.get("XTINY_BENCH_WORK", "/tmp/xtiny-bench"))
    args = ap.parse_args()

    import torch

    from xtiny.devices import resolve_device
    from xtiny.family import add_width_family, family_members
    from xtiny.nnunet.networks import build_planned_network
    from xtiny.nnunet.plans import load_plans
    from xtiny.sensitivity.inputs import load_probe_inputs
    from xtiny.sensitivity.probe import chunk_size_for, jacobian_norms

    name = synthetic_dataset(Path(args.work), "bus", 990, args.k, args.size)
    add_width_family(name, "2d")
    plans = load_plans(name)
    images = load_probe_inputs(name, "2d", args.k).images
    device = resolve_device(args.device)
    rows, load_before = [], load_average()
    for cand, cap in family_members(plans, "2d"):
        if cap not in args.caps:
            continue
        net = build_planned_network(name, cand, deep_supervision=False, seed=0)
        default = chunk_size_for(net, tuple(images.shape[1:]), device)
        times = {}
        for chunk in args.chunks:
            started = time.perf_counter()
            jacobian_norms(net, images, device=device, chunk_size=chunk)
            times[chunk] = time.perf_counter() - started
            print(f"{cand} chunk {chunk}: {times[chunk]:.2f} s", flush=True)
        best = min(times, key=times.get)
        rows.append([cand, *[round(times[c], 2) for c in args.chunks], best, default])
    header = ["candidate", *[f"chunk {c} (s)" for c in args.chunks], "fastest chunk", "default chunk"]
    out = write_result(f"probe_chunks_{device_tag(args.device)}",
                       f"Probe wall time vs chunk size (K={args.k}, {args.size} px, {device.type}, "
                       f"{torch.get_num_threads()} threads)", header, rows,
                       k=args.k, size=args.size, torch_threads=torch.get_num_threads(),
                       loadavg_before=load_before, loadavg_after=load_average())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
