"""Timings that used to be asserted in tests (a test must not time a shared 2-core machine): synthetic data
generation, a cached search rerun and a rerun of a finished `xtiny run` (every stage skipped).

Each figure is checked against its budget here, and the script exits 1 when one is missed:
- 200 fundus-like cases at 256 px with 2 workers: < 30 s;
- `run_search` again on the same inputs (every score from the cache): < 10 s;
- `xtiny run` again after a finished run (every stage skipped): < 20 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BUDGETS_S = {"generate_200_cases_256px": 30.0, "search_rerun_cached": 10.0, "run_rerun_all_skipped": 20.0}
RUN_ARGS = ["-k", "4", "--seeds", "1", "--epochs", "1", "--iterations", "5", "--val-iterations", "1",
            "--formats", "onnx,bundle"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/xtiny-bench-fast-paths")
    args = ap.parse_args()
    from common import load_average, use_work_dir, write_result

    from xtiny.cli import main as xtiny_main
    from xtiny.datasets.synth import generate_dataset
    from xtiny.search import SearchSettings, run_search

    work = Path(args.work)
    use_work_dir(work)
    load_start, seconds = load_average(), {}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        generate_dataset("fundus", dataset_id=960, num_cases=200, seed=0, size=256, raw_dir=Path(tmp), workers=2)
        seconds["generate_200_cases_256px"] = time.perf_counter() - started

    raw = work / "raw"
    if not any(raw.glob("Dataset961_*")):
        generate_dataset("bus", dataset_id=961, num_cases=10, seed=1, size=64, raw_dir=raw)
    if xtiny_main(["run", "-d", "961", *RUN_ARGS]) != 0:  # first run: does (or resumes) the work
        raise SystemExit("the first xtiny run failed")
    started = time.perf_counter()
    run_search("961", "2d", SearchSettings(k=4, seeds=1, device="cpu"), progress=False)
    seconds["search_rerun_cached"] = time.perf_counter() - started
    started = time.perf_counter()
    if xtiny_main(["run", "-d", "961", *RUN_ARGS]) != 0:
        raise SystemExit("the rerun failed")
    seconds["run_rerun_all_skipped"] = time.perf_counter() - started

    rows = [[name, round(s, 2), BUDGETS_S[name], "yes" if s < BUDGETS_S[name] else "NO"] for name, s in seconds.items()]
    write_result("fast_paths", "Fast paths: data generation, cached search, skipped run",
                 ["what", "seconds", "budget (s)", "within budget"], rows, seconds=seconds, budgets_s=BUDGETS_S,
                 load_avg_start=load_start, load_avg_end=load_average())
    for row in rows:
        print(f"{row[0]}: {row[1]} s (budget {row[2]} s) {'ok' if row[3] == 'yes' else 'MISSED'}")
    return 0 if all(r[3] == "yes" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
