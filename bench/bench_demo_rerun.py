"""A rerun of the same demo command: ``xtiny demo --quick`` twice from an empty work folder, as a user would.

    .venv/bin/python bench/bench_demo_rerun.py [--work /tmp/xtiny-bench-demo-rerun]

The first run does the whole job (its own 4-minute target); the second, the same command, must reuse the recorded
plan (``demo_plan.json``) and skip every stage (issue #26: the second run once retrained every net and took 273 s,
longer than the first; target under 30 s). Both are child processes with nnU-Net's folders in ``--work``, emptied
first. Reads each run's ``[stage] up to date, skipped`` and
``[stage] running`` lines. Writes ``bench/results/demo_rerun_cpu.json``; exit 1
when a run fails, a stage ran again, or the rerun took 30 s or more. Check ``uptime`` first.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

RERUN_TARGET_S = 30.0


def _stages(log: str) -> tuple[list[str], list[str]]:
    """The stages a demo log says it skipped, and those it ran."""
    return re.findall(r"\[(\w+)\] up to date, skipped", log), re.findall(r"\[(\w+)\] running", log)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/xtiny-bench-demo-rerun")
    args = ap.parse_args()
    from common import RESULTS, load_average, run_measured, use_work_dir, write_result

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    use_work_dir(work)
    rows, runs = [], []
    load_start = load_average()
    for label in ("first run", "rerun"):
        run = run_measured([sys.executable, "-m", "xtiny", "demo", "--quick"], env=dict(os.environ),
                           log=work / f"demo_{label.replace(' ', '_')}.log")
        skipped, ran = _stages((work / f"demo_{label.replace(' ', '_')}.log").read_text(errors="replace"))
        runs.append({"label": label, **run, "skipped": skipped, "ran": ran})
        rows.append([label, run["returncode"], round(run["wall_s"], 1), len(skipped), ", ".join(ran) or "-"])
    rerun = runs[1]
    ok = all(r["returncode"] == 0 for r in runs) and not rerun["ran"] and rerun["wall_s"] < RERUN_TARGET_S
    notes = [f"`xtiny demo --quick` twice from an empty work folder ({work}); load average {load_start} at start, "
             f"{load_average()} at end. Target: the rerun skips every stage in under {RERUN_TARGET_S:g} s.",
             f"Rerun: {rerun['wall_s']:.1f} s, {len(rerun['skipped'])} stages skipped"
             + (f", ran again: {', '.join(rerun['ran'])}" if rerun["ran"] else "") + "."]
    path = write_result("demo_rerun_cpu", "The same `xtiny demo --quick` command run twice: wall time and stages",
                        ["run", "exit", "wall (s)", "stages skipped", "stages run"], rows, notes=notes, runs=runs,
                        target_s=RERUN_TARGET_S, met=ok)
    print(f"[bench] {path.relative_to(RESULTS.parent.parent)}: first {runs[0]['wall_s']:.0f} s, rerun "
          f"{rerun['wall_s']:.1f} s, target met: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
