"""Benchmark: how fast the Jacobian probe runs on this machine, and which execution settings pay.

    .venv/bin/python bench/bench_probe_speed.py [--k 8] [--size 256] [--cap 512] [--device cpu|cuda] [--repeats 2]

The widest candidate (the full nnU-Net, cap 512) on ``k`` images of the synthetic BUS dataset of
``bench_search.py`` (id 990, ``size`` px, reused when present), seed 0. Every variant runs in this process, one after
the other, ``repeats`` times (the best time is kept), and is checked against the per-image loop
(``jacobian_norms_loop`` on the network as nnU-Net builds it): a variant whose score (the mean norm) differs by more than 1e-4 relative fails the check
and is never adopted (the largest per-image difference is reported too). Work per image = 2 x the candidate's forward MACs (forward + the input-gradient backward; no weight
gradients). Reported: seconds per image, GMAC/s, the ratio to the current default, and the machine's fp32 matmul rate
(a 2048^3 ``torch.mm``, the practical peak of this CPU through the same BLAS).

Variants (CPU): ``default`` (xtiny's probe as shipped: InstanceNorm computed as GroupNorm, one image per intra-op
thread, contiguous NCHW), ``instance_norm`` (the same on the network as nnU-Net builds it), ``loop`` (one image per
backward), ``chunk1`` / ``chunk4`` (other chunk sizes), ``channels_last`` (NHWC memory format for the network
and the input), ``mkldnn_off`` (oneDNN convolutions off: the native kernels), ``compile`` (``torch.compile``, its
compile time reported apart). On CUDA also ``tf32`` (cuDNN TF32 convolutions; the probe keeps them off unless the
norms agree within 1e-4) and ``batch_all`` (every image in one backward).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import device_tag, load_average, synthetic_dataset, write_result  # noqa: E402

TOLERANCE = 1e-4


def matmul_rate(device) -> float:
    """GMAC/s of a 2048^3 fp32 matmul (after a warm-up, best of 5)."""
    import torch

    a = torch.randn(2048, 2048, device=device)
    b = torch.randn(2048, 2048, device=device)
    out = torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(5):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2048**3 / best / 1e9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--cap", type=int, default=512)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant (slow to compile)")
    ap.add_argument("--work", default=os.environ.get("XTINY_BENCH_WORK", "/tmp/xtiny-bench"))
    args = ap.parse_args()

    import numpy as np
    import torch

    from xtiny.devices import resolve_device
    from xtiny.family import add_width_family, family_members
    from xtiny.meta_pass import meta_profile
    from xtiny.nnunet.networks import build_planned_network
    from xtiny.nnunet.plans import load_plans
    from xtiny.nnunet.width_names import width_configuration_name
    from xtiny.sensitivity.inputs import load_probe_inputs
    from xtiny.sensitivity.probe import (
        chunk_size_for,
        jacobian_norms,
        jacobian_norms_loop,
        swap_instance_norms,
    )

    device = resolve_device(args.device)
    name = synthetic_dataset(Path(args.work), "bus", 990, max(args.k, 60), args.size)
    add_width_family(name, "2d")
    candidate = width_configuration_name("2d", args.cap)
    images = load_probe_inputs(name, "2d", args.k).images
    built = build_planned_network(name, candidate, deep_supervision=False, seed=0)  # as nnU-Net builds it
    net = swap_instance_norms(copy.deepcopy(built))  # as the search probes it
    macs = meta_profile(built, tuple(images.shape[1:]))["macs"]
    work_gmac = 2 * macs * len(images) / 1e9
    load_start = load_average()
    reference = jacobian_norms_loop(built, images, device=device)
    default_chunk = chunk_size_for(net, tuple(images.shape[1:]), device)

    def timed(fn) -> tuple[float, np.ndarray]:
        best, norms = float("inf"), None
        for _ in range(args.repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            norms = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        return best, norms

    def channels_last() -> np.ndarray:
        cl = net.to(memory_format=torch.channels_last)
        x = torch.as_tensor(images).contiguous(memory_format=torch.channels_last)
        try:
            return jacobian_norms(cl, x, device=device, chunk_size=default_chunk)
        finally:
            net.to(memory_format=torch.contiguous_format)

    def mkldnn_off() -> np.ndarray:
        with torch.backends.mkldnn.flags(enabled=False):
            return jacobian_norms(net, images, device=device, chunk_size=default_chunk)

    variants = {
        "default": lambda: jacobian_norms(net, images, device=device),
        "instance_norm": lambda: jacobian_norms(built, images, device=device),
        "loop": lambda: jacobian_norms(net, images, device=device, chunk_size=1),
        "chunk4": lambda: jacobian_norms(net, images, device=device, chunk_size=4),
        "channels_last": channels_last,
    }
    if device.type == "cpu":
        variants["mkldnn_off"] = mkldnn_off
    else:
        variants["tf32"] = lambda: jacobian_norms(net, images, device=device, allow_tf32=True)
        variants["batch_all"] = lambda: jacobian_norms(net, images, device=device, chunk_size=len(images))
    compile_s = None
    if not args.no_compile:
        t0 = time.perf_counter()
        compiled = torch.compile(net)
        jacobian_norms(compiled, images[:default_chunk], device=device, chunk_size=default_chunk)  # compiles
        compile_s = time.perf_counter() - t0
        variants["compile"] = lambda: jacobian_norms(compiled, images, device=device, chunk_size=default_chunk)

    results = {}
    for label, fn in variants.items():
        seconds, norms = timed(fn)
        rel = float(np.max(np.abs(norms - reference) / np.abs(reference)))
        score_rel = float(abs(norms.mean() - reference.mean()) / abs(reference.mean()))
        results[label] = {"seconds": seconds, "per_image_s": seconds / len(images), "gmac_per_s": work_gmac / seconds,
                          "max_rel_diff_vs_loop": rel, "score_rel_diff_vs_loop": score_rel,
                          "within_tolerance": score_rel <= TOLERANCE}
        print(f"{label:>14}: {seconds / len(images):.3f} s/image, {work_gmac / seconds:.1f} GMAC/s, "
              f"score rel diff {score_rel:.1e}, per-image max {rel:.1e}", flush=True)
    family = []  # every candidate: the as-built network against the shipped one (InstanceNorm as GroupNorm)
    for cand, _cap in family_members(load_plans(name), "2d"):
        as_built = build_planned_network(name, cand, deep_supervision=False, seed=0)
        shipped = swap_instance_norms(copy.deepcopy(as_built))
        t_built, _n = timed(lambda n=as_built: jacobian_norms(n, images, device=device))
        t_shipped, _n = timed(lambda n=shipped: jacobian_norms(n, images, device=device))
        family.append([cand, round(t_built, 2), round(t_shipped, 2), round(t_built / t_shipped, 2)])
        print(f"{cand}: as built {t_built:.2f} s, shipped {t_shipped:.2f} s", flush=True)
    family.append(["whole family", round(sum(r[1] for r in family), 2), round(sum(r[2] for r in family), 2),
                   round(sum(r[1] for r in family) / sum(r[2] for r in family), 2)])
    peak = matmul_rate(device)
    base = results["default"]["seconds"]
    rows = [[label, round(r["per_image_s"], 3), round(r["gmac_per_s"], 1), round(base / r["seconds"], 2),
             f"{r['score_rel_diff_vs_loop']:.1e}", f"{r['max_rel_diff_vs_loop']:.1e}",
             "yes" if r["within_tolerance"] else "NO"] for label, r in results.items()]
    best = max((r for r in results if results[r]["within_tolerance"]), key=lambda r: results[r]["gmac_per_s"])
    notes = [f"{candidate} at {args.size} px: {macs / 1e9:.2f} GMAC forward per image; {len(images)} images, best of "
             f"{args.repeats}; default chunk {default_chunk} on {torch.get_num_threads()} threads.",
             f"This machine's fp32 matmul (2048^3 torch.mm): {peak:.1f} GMAC/s; the shipped probe reaches "
             f"{results['default']['gmac_per_s']:.1f} GMAC/s ({results['default']['gmac_per_s'] / peak:.0%} of it); "
             f"the fastest variant within {TOLERANCE:g} of the loop is `{best}` "
             f"({base / results[best]['seconds']:.2f}x the default).",
             f"Load average {load_start:.2f} at start, {load_average():.2f} at end."]
    if compile_s is not None:
        notes.append(f"torch.compile took {compile_s:.1f} s before its first result (per candidate and input shape).")
    tag = device_tag(args.device)
    path = write_result(f"probe_speed_{tag}", f"Probe speed: {candidate}, {args.size} px, {tag}",
                        ["variant", "s / image", "GMAC/s", "x default", "score rel diff vs loop",
                         "max per-image rel diff", "score within 1e-4"], rows,
                        notes=notes, extra_tables=[{
                            "title": f"Every candidate, {len(images)} images, seed 0, best of {args.repeats}: the "
                                     "network as nnU-Net builds it (InstanceNorm) against the shipped probe's "
                                     "(InstanceNorm computed as GroupNorm)",
                            "header": ["candidate", "as built (s)", "shipped (s)", "ratio"], "rows": family}],
                        results=results, family=family, matmul_gmac_per_s=peak, compile_s=compile_s,
                        forward_gmac_per_image=macs / 1e9, best_variant=best, torch_threads=torch.get_num_threads())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
