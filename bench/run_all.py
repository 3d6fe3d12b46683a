"""Run every CPU benchmark with small budgets (`make bench-cpu`: 36.5 min on 2 cores when last timed whole, before the
probe speed, stop rule and vs-published benches were added, which take about 6, 15 and 5 min on their own), or with
``--gpu`` the short CUDA plan (search, probe chunks and speed, training throughput, distillation, selection), then
rebuild BENCHMARKS.md. Each script writes its own JSON into bench/results/; this only sequences them (one heavy job
at a time) and reports what failed."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
CPU_PLAN = [
    ("search cost", ["bench_search.py", "--k", "32", "--size", "256", "--seeds", "1"]),
    # `xtiny search` next to the authors' derive_xtiny_config.py, 60 images of 256 px (the published side ~6 min);
    # needs XTINY_PUBLISHED_REPO and XTINY_PUBLISHED_PYTHON (README), else it says how to set them up and skips
    ("search vs the published scripts", ["bench_vs_published.py", "--cases", "60", "--size", "256"]),
    ("probe chunk size", ["bench_probe_chunks.py"]),
    ("edge latency", ["bench_edge.py", "--repeats", "20"]),
    ("edge cost of baselines", ["bench_edge_cost.py", "--in-channels", "1", "--repeats", "5"]),
    ("training throughput", ["bench_training.py", "--iterations", "30", "--full-epoch"]),
    # the whole selection bench (8 datasets x small and 4x small) takes hours on 2 cores: run it on its own,
    # `python bench/bench_selection.py`; here the two synthetic kinds and the real lung-tumour CT (per-patient Dice)
    # at the small budget (~30 min + lungct's)
    ("selection quality", ["bench_selection.py", "--budgets", "small", "--datasets", "bus", "cardiac", "lungct"]),
    ("collapse vs budget", ["bench_budget.py", "--kind", "cardiac"]),  # reuses the cardiac sweep; ~4.5 min
    ("accuracy", ["bench_accuracy.py", "--budget", "small"]),  # ~10 min on 2 idle cores
    ("int8 fidelity", ["bench_int8.py"]),  # reuses accuracy's dataset and trained pick; ~1.5 min
    ("edge agreement", ["bench_edge_agreement.py"]),  # reuses bench_int8's trained widths; ~1 min
    ("fast paths", ["bench_fast_paths.py"]),  # the timings tests must not assert; ~2 min
    ("probe speed", ["bench_probe_speed.py", "--k", "8"]),  # ~6 min (torch.compile included)
    ("stop rule", ["bench_stop_rule.py", "--budget", "small"]),  # 7 datasets, shares selection's data; ~15 min
    # the default search's rerun stability (issue #30): nested draws, a 20-seed reference on the first 24 images of
    # the 7 selection datasets, 20 reruns of the stop rule with its narrow seeds (add "--draws nested independent"
    # for the independent draws beside it, about twice the time)
    ("nested init", ["bench_nested_init.py", "--budget", "small", "--datasets", "cardiac", "bus", "fundus", "echo",
                     "derm", "mni", "colin27", "--seeds", "20", "--max-images", "24", "--draws", "nested"]),
    # `xtiny demo --dataset mni` whole, through export and report, on a small budget (issue #32). Not timed at this
    # budget yet: the default budget took 23 min under load ~6 (2 cores shared), 8.5 of them the baseline skipped here
    ("mni demo", ["bench_real_demo.py", "--minutes", "4", "--no-baseline"]),
    # `xtiny demo --dataset lungct` whole at its own 9-minute target (issue #31: within 10 min on 2 cores; the report
    # must show the expert contours and the per-patient Dice)
    ("lungct demo", ["bench_real_demo.py", "--dataset", "lungct"]),
    # the same `xtiny demo --quick` twice: the rerun reuses the recorded plan and skips every stage (< 30 s); ~6 min
    ("demo rerun", ["bench_demo_rerun.py"]),
    # family runs vs solo runs: Dice equivalence (3 seeds) and wall times side by side; ~70 min on 2 idle cores
    # (about 12 min per dataset and seed; resumable with --work DIR, the JSON is rewritten after every seed)
    ("family runs", ["bench_family.py", "--datasets", "bus", "cardiac", "--seeds", "3", "--size", "64",
                     "--cases", "24", "--epochs", "5", "--iterations", "20"]),
    # learning curves of the width family (issue #28): one long family run (800 iterations, validated at 1/16..1/2)
    # and planned-short runs at 1/8 and 1/4 per dataset; ~14 min per dataset on 2 idle cores, ~75 min for the five.
    # Its summary sets CONFIRM_BUDGET_FRACTION (xtiny/training/__init__.py) and curve_evidence.py
    ("learning curves", ["bench_curves.py", "--datasets", "bus", "cardiac", "mni", "colin27", "lungct"]),
    # distillation over seeds (issue #29): the default KD term (fg, alpha 0.5, T 2) offline with the plain pick's 3
    # seeds, and online in the family run; ~15 min per dataset on 2 cores
    ("distillation over seeds", ["bench_distill.py", "--datasets", "cardiac", "bus", "fundus", "lungct", "mni",
                                 "--grid", "fg:0.5:2", "--student-seeds", "1", "2", "--online", "fg:0.5:2",
                                 "--suffix", "seeds"]),
]

GPU_PLAN = [  # each writes *_cuda.json next to the CPU results
    # first: what a family run costs on a GPU against its members' solo runs, and where a step's time goes per width
    # (target: pick + 2 wider + full <= 1.3x the full net alone); 256 px, 2 x 250 iterations, 2 seeds, ~5 min
    ("family runs", ["bench_family.py", "--datasets", "bus", "--seeds", "2", "--size", "256", "--cases", "60",
                     "--epochs", "2", "--iterations", "250", "--val-iterations", "10", "--device", "cuda"]),
    # second: learning curves at 256 px on 2 datasets (1600 iterations per width, planned-short runs at 1/8 and 1/4:
    # 1.375 x 1600 family steps of 8 networks each). Not yet timed on a GPU: at the assumed ~0.1 s per family step
    # that is ~4 min per dataset plus planning and search, ~10 min for both
    ("learning curves", ["bench_curves.py", "--datasets", "bus", "cardiac", "--size", "256", "--cases", "200",
                         "--epochs", "16", "--iterations", "100", "--device", "cuda"]),
    # third: distillation, pixel vs cwd vs fg offline (each over the plain pick's 3 seeds) and fg online
    ("distillation", ["bench_distill.py", "--budget", "gpu1k", "--device", "cuda", "--grid", "pixel:0.1:2",
                      "cwd:0.5:4", "fg:0.5:2", "--student-seeds", "1", "2", "--online", "fg:0.5:2"]),
    ("search cost", ["bench_search.py", "--k", "32", "--size", "256", "--seeds", "1", "--device", "cuda"]),
    ("probe chunk size", ["bench_probe_chunks.py", "--device", "cuda", "--chunks", "1,2,4,8,16,32"]),
    ("probe speed", ["bench_probe_speed.py", "--k", "32", "--device", "cuda"]),  # TF32, batch-all, compile
    ("training throughput", ["bench_training.py", "--iterations", "30", "--full-epoch", "--device", "cuda"]),
    # selection quality at the largest budget one short lease holds (256 px, 200 cases, 1000 iterations per width),
    # the evidence most needed; "paper" (25k iterations per width) needs hours of GPU
    # The sweep can also go through a local Ray instance on the lent GPU (`--executor ray --jobs 4 --gpus-per-job 0.25
    # --cpus-per-job 4`: 4 trainings share the GPU); not yet measured on a GPU, so the plan keeps the local pool that
    # produced the gpu1k results. On a cluster, add `--ray-address auto` and leave --gpus-per-job at 1.
    ("selection quality", ["bench_selection.py", "--budgets", "gpu1k", "--datasets", "bus", "cardiac", "mni",
                           "--device", "cuda", "--jobs", "10"]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cpu", action="store_true", help="the CPU plan (default)")
    parser.add_argument("--gpu", action="store_true", help="the CUDA plan instead")
    parser.add_argument("--only", nargs="*", help="run only the benchmarks whose title contains one of these")
    args = parser.parse_args()
    failed, begun = [], time.perf_counter()
    for title, cmd in GPU_PLAN if args.gpu else CPU_PLAN:
        if args.only and not any(word in title for word in args.only):
            continue
        if not (BENCH / cmd[0]).is_file():
            print(f"[bench] {title}: {cmd[0]} missing, skipped")
            continue
        print(f"[bench] {title}: {' '.join(cmd)}", flush=True)
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, str(BENCH / cmd[0]), *cmd[1:]], cwd=BENCH.parent)
        print(f"[bench] {title}: exit {proc.returncode} after {time.perf_counter() - started:.0f} s", flush=True)
        if proc.returncode:
            failed.append(title)
    subprocess.run([sys.executable, str(BENCH / "make_benchmarks_md.py")], check=True)
    print(f"[bench] all done in {(time.perf_counter() - begun) / 60:.1f} min", flush=True)
    if failed:
        print(f"[bench] failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
