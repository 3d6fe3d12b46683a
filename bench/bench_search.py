"""Benchmark: the batched, cached-free width search vs the published per-image loop through nnU-Net's trainer.

    .venv/bin/python bench/bench_search.py [--k 32] [--size 256] [--seeds 1] [--device cpu|cuda] [--result search_<device>]

Setup: synthetic BUS dataset (id 990, ``size`` x ``size``, ``k`` cases) made with xtiny.datasets.synth and
nnU-Net-planned for 2d (10 candidates for 256x256: caps 512 .. 1). Both sides run in their own child process
(so each peak RSS is its own), on CPU, same K images, same seed:

* ``cli``: the user's command, ``xtiny search -d 990 -k K --seeds S --device DEVICE --no-cache --quiet --fixed``
  (search.json + search.png written), timed by the parent around the whole child process: interpreter
  start-up and imports included. This is the figure the "< 60 s including start-up" target is about.
* ``ours``: ``xtiny.search.run_search(..., use_cache=False)`` in-process: networks built from plans,
  parameters frozen, one backward per chunk (on CPU one image per thread).
* ``baseline``: per candidate ``nnUNetTrainer(plans, config, 0, dataset_json).initialize()`` (the full
  trainer: network + optimizer + loss), deep supervision off, then one forward/backward per image.

Reports wall seconds, speed-up ratio, peak RSS (GiB) and the max relative difference of the two sides' scores.
Not part of the test suite (it is heavy).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DATASET_ID = 990


def _env(work: Path) -> None:
    for key, env in (("raw", "nnUNet_raw"), ("preprocessed", "nnUNet_preprocessed"), ("results", "nnUNet_results")):
        os.environ[env] = str(work / key)
        (work / key).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("nnUNet_compile", "false")


def prepare(work: Path, k: int, size: int) -> str:
    from xtiny.datasets.synth import generate_dataset
    from xtiny.nnunet.planning import plan_and_preprocess

    generate_dataset("bus", dataset_id=DATASET_ID, num_cases=k, seed=0, size=size,
                     raw_dir=Path(os.environ["nnUNet_raw"]))
    return plan_and_preprocess(DATASET_ID, configurations=("2d",), num_processes=2)


def part_ours(name: str, k: int, seeds: int, device: str) -> dict:
    from xtiny.search import SearchSettings, run_search

    t0 = time.perf_counter()
    result = run_search(name, settings=SearchSettings(k=k, seeds=seeds, device=device, use_cache=False,
                                                      confidence=None), write=False, progress=False)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "chosen": result["chosen"],
            "scores": {c["name"]: c["scores_per_seed"][0] for c in result["candidates"]},
            "per_candidate_s": {c["name"]: c["timings"]["probe_s"] for c in result["candidates"]},
            "params": {c["name"]: c["params"] for c in result["candidates"]}}


def part_cli(name: str, k: int, seeds: int, device: str) -> dict:
    from xtiny.cli import main as xtiny_main

    t0 = time.perf_counter()
    code = xtiny_main(["search", "-d", name, "-k", str(k), "--seeds", str(seeds), "--device", device, "--no-cache",
                       "--quiet", "--fixed"])
    if code:
        raise SystemExit(f"xtiny search exited {code}")
    return {"wall_s": time.perf_counter() - t0}


def part_baseline(name: str, k: int, device: str) -> dict:
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    from xtiny.atomic import read_json
    from xtiny.family import family_members
    from xtiny.nnunet.plans import load_plans, plans_path
    from xtiny.sensitivity.inputs import load_probe_inputs

    plans_file, plans = plans_path(name), load_plans(name)
    dataset_json = read_json(plans_file.parent / "dataset.json")
    t0 = time.perf_counter()
    images = load_probe_inputs(name, "2d", k).images
    scores, per_candidate = {}, {}
    for cand, _cap in family_members(plans, "2d"):
        tc = time.perf_counter()
        p = json.loads(plans_file.read_text())
        p["continue_training"] = False
        torch.manual_seed(0)
        trainer = nnUNetTrainer(p, cand, 0, dataset_json, device=torch.device(device))
        trainer.initialize()
        trainer.set_deep_supervision_enabled(False)
        net = trainer.network
        norms = []
        for i in range(len(images)):
            x = torch.from_numpy(images[i:i + 1]).to(device).requires_grad_(True)
            net.zero_grad(set_to_none=True)
            net(x).sum().backward()
            norms.append(float(x.grad.flatten().double().norm()))
        scores[cand] = sum(norms) / len(norms)
        per_candidate[cand] = time.perf_counter() - tc
        del trainer, net
    return {"wall_s": time.perf_counter() - t0, "scores": scores, "per_candidate_s": per_candidate}


def _write(args, report: dict, base: dict | None) -> None:
    """The result file in bench/common.py's schema: one row per candidate, totals in the notes."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import write_result

    ours, cli = report["ours"], report["cli"]
    rows = [[name, ours["params"][name], round(secs, 2),
             round(base["per_candidate_s"][name], 2) if base else "",
             round(base["per_candidate_s"][name] / secs, 2) if base else ""]
            for name, secs in ours["per_candidate_s"].items()]
    notes = [f"`xtiny search` whole process (start-up, imports, {report['candidates']} candidates, search.json/png): "
             f"{cli['child_process_wall_s']:.1f} s wall, peak RSS {cli['peak_rss_gib']:.2f} GiB; "
             f"targets < 60 s and < 4 GiB.",
             f"In-process run_search: {ours['wall_s']:.1f} s, pick {ours['chosen']}."]
    if base:
        notes.append(f"Per-image loop through nnU-Net's trainer (published approach): {base['wall_s']:.1f} s → "
                     f"speed-up {report['speedup']:.2f}x (target ≥ 10x); scores agree to "
                     f"{report['max_rel_score_diff']:.1e} relative.")
    notes.append(f"torch threads {report['torch_threads']}; load average {report['loadavg_before'][0]:.2f} at "
                 f"start, {report['loadavg_after'][0]:.2f} at end.")
    path = write_result(args.result or f"search_{args.device}", f"Width search cost, {report['candidates']} candidates, K={args.k}, {args.size} px, "
                 f"{args.seeds} seed(s), {args.device}", ["candidate", "params", "ours s", "per-image loop s", "ratio"], rows,
                 notes=notes, **report)
    print(f"wrote {path}")


def _child(part: str, args) -> dict:
    out = Path(args.work) / f"{part}.json"
    cmd = [sys.executable, __file__, "--part", part, "--k", str(args.k), "--size", str(args.size),
           "--seeds", str(args.seeds), "--work", str(args.work), "--name", args.name, "--device", args.device]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    return json.loads(out.read_text()) | {"child_process_wall_s": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--work", default=os.environ.get("XTINY_BENCH_WORK", "/tmp/xtiny-bench"))
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--result", default=None, help="result name: bench/results/<name>.json (default search_<device>)")
    ap.add_argument("--part", choices=["cli", "ours", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--name", help=argparse.SUPPRESS)
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    work = Path(args.work)
    _env(work)
    if args.part:
        t0 = time.perf_counter()
        if args.part == "cli":
            res = part_cli(args.name, args.k, args.seeds, args.device)
        elif args.part == "ours":
            res = part_ours(args.name, args.k, args.seeds, args.device)
        else:
            res = part_baseline(args.name, args.k, args.device)
        res["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB
        if args.device == "cuda":
            import torch

            res["peak_cuda_gib"] = torch.cuda.max_memory_allocated() / 2**30
        res["process_s"] = time.perf_counter() - t0
        (work / f"{args.part}.json").write_text(json.dumps(res, indent=2))
        return 0

    import torch

    from xtiny.family import add_width_family

    t0 = time.perf_counter()
    args.name = prepare(work, args.k, args.size)
    add_width_family(args.name, "2d")
    prep_s = time.perf_counter() - t0
    load = os.getloadavg()
    cli = _child("cli", args)
    print(f"xtiny search (whole process): {cli['child_process_wall_s']:.1f} s, peak {cli['peak_rss_gib']:.2f} GiB")
    ours = _child("ours", args)
    print(f"ours: {ours['wall_s']:.1f} s, peak {ours['peak_rss_gib']:.2f} GiB, pick {ours['chosen']}")
    report = {"k": args.k, "size": args.size, "seeds": args.seeds, "candidates": len(ours["scores"]),
              "device": args.device, "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
              "loadavg_before": load, "prepare_s": prep_s, "cli": cli, "ours": ours}
    base = None
    if not args.skip_baseline:
        base = _child("baseline", args)
        print(f"baseline: {base['wall_s']:.1f} s, peak {base['peak_rss_gib']:.2f} GiB")
        rel = max(abs(ours["scores"][c] - base["scores"][c]) / abs(base["scores"][c]) for c in base["scores"])
        report |= {"baseline": base, "speedup": base["wall_s"] / ours["wall_s"], "max_rel_score_diff": rel}
        print(f"speed-up {report['speedup']:.1f}x, max relative score difference {rel:.2e}")
    report["loadavg_after"] = os.getloadavg()
    _write(args, report, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
