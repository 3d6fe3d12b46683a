"""A real-data demo, whole: ``xtiny demo --dataset mni|lungct`` from an empty work folder, through export and report.

    .venv/bin/python bench/bench_real_demo.py [--dataset mni|lungct] [--minutes 4] [--no-baseline]
                                              [--work /tmp/xtiny-bench-<dataset>-demo]

Runs the command as a user would (a child process, nnU-Net's folders in ``--work``, emptied first) on nilearn's MNI152
template (``pip install 'xtiny[mni]'``) or on the lung-cancer CT slices (``xtiny datasets lungct``' pinned archives,
from the download cache), then reads what it left: ``run.json`` (the failed stage, if any), ``export_report.json``
(each exported model against the PyTorch network: max abs and relative logit difference, argmax label agreement,
INT8's Dice drop; ``xtiny/export/fidelity.py``) and ``report.html`` (which must show those checks; for lungct also
the qualitative figure with the expert contours and the per-patient Dice table). Without ``--minutes`` the demo's
own 9-minute target; ``run_all.py``'s CPU plan passes a small budget so that the MNI path through export cannot break
unseen (issue #32: the export check refused a correct trained model after 10 minutes). Writes
``bench/results/<dataset>_demo_<budget>_cpu.json``; exit 1 when the demo fails or its report lacks what it must show.
(Named bench_mni_demo.py until the lungct demo joined it.) Check ``uptime`` first.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=None, help="the demo's --minutes (default: its own)")
    ap.add_argument("--no-baseline", action="store_true", help="the demo's --no-baseline")
    ap.add_argument("--dataset", default="mni", choices=["mni", "lungct"])
    ap.add_argument("--work", default=None, help="work folder (default /tmp/xtiny-bench-<dataset>-demo)")
    args = ap.parse_args()
    from common import RESULTS, load_average, run_measured, use_work_dir, write_result

    from xtiny.atomic import read_json
    from xtiny.export.fidelity import CHECK_HEADER, check_rows

    work = Path(args.work or f"/tmp/xtiny-bench-{args.dataset}-demo")
    shutil.rmtree(work, ignore_errors=True)
    use_work_dir(work)
    if args.dataset == "lungct":  # the pinned archives from the user's download cache (nothing fetched again)
        from xtiny.datasets.lungct_archives import lungct_cache_dir

        os.environ.setdefault("XTINY_CACHE", str(lungct_cache_dir().parent))
    options = (["--minutes", f"{args.minutes:g}"] if args.minutes else []) + (["--no-baseline"] if args.no_baseline
                                                                                 else [])
    command = " ".join([f"xtiny demo --dataset {args.dataset}", *options])
    budget = (f"{args.minutes:g}min" if args.minutes else "default") + ("_nobaseline" if args.no_baseline else "")
    load_start = load_average()
    run = run_measured([sys.executable, "-m", "xtiny", "demo", "--dataset", args.dataset, *options], env=dict(os.environ),
                       log=work / "demo.log")
    log = (work / "demo.log").read_text(errors="replace")
    state_files = sorted((work / "results").glob("Dataset*_*/xtiny/run.json"))  # the one dataset the demo trained
    state = read_json(state_files[0], "run state") if state_files else {}
    stages = state.get("stages", {})
    export_dir = stages.get("export", {}).get("outputs", {}).get("export_dir")
    report = read_json(Path(export_dir) / "export_report.json", "export report") if export_dir else {}
    checks = report.get("metrics", {}).get("checks", {})
    report_html = Path(stages.get("report", {}).get("outputs", {}).get("report_path", work / "none.html"))
    fp32 = checks.get("fp32", {})
    text = report_html.read_text() if report_html.is_file() else ""
    shown = "Export checks of" in text and f"{fp32.get('max_abs_diff', float('nan')):.2e}" in text
    if args.dataset == "lungct":
        shown = shown and "Qualitative predictions" in text and "Per patient (" in text
    dice_lines = [line.split("[demo]", 1)[1].strip() for line in log.splitlines()
                  if "[demo]" in line and ("Dice" in line or "per patient" in line or "plan:" in line)]
    error = next((line for line in reversed(log.splitlines()) if ": error: " in line), None)
    notes = [f"`{command}` from an empty work folder: exit "
             f"{run['returncode']} after {run['wall_s'] / 60:.1f} min wall (largest process {run['max_process_rss_gib']} "
             f"GiB); load average {load_start} at start, {load_average()} at end.",
             f"Report {'shows' if shown else 'DOES NOT show'} the export checks (report.html, Edge bundle section)"
             + (" and the contour figure and per-patient Dice table." if args.dataset == "lungct" else ".")
             + (f" Failed stage: {state['failed']['stage']}: {error}" if state.get("failed") else ""),
             "Rows: each exported model against the PyTorch network on the export's real patches "
             f"({checks.get('inputs', '?')}); rule: {checks.get('rule', '?')}.",
             *[re.sub(r"\s+", " ", line) for line in dice_lines]]
    title = {"mni": "Real-brain demo (MNI152)", "lungct": "Lung-tumour CT demo (6 patients)"}[args.dataset]
    path = write_result(f"{args.dataset}_demo_{budget}_cpu", f"{title}, budget {budget}: wall time and export checks",
                        CHECK_HEADER, check_rows(checks), notes=notes, run=run, returncode=run["returncode"],
                        wall_s=run["wall_s"], report_shows_checks=shown, checks=checks, failed=state.get("failed"))
    print(f"[bench] {path.relative_to(RESULTS.parent.parent)}: exit {run['returncode']}, {run['wall_s'] / 60:.1f} min, "
          f"report shows the checks: {shown}")
    return 0 if run["returncode"] == 0 and shown else 1


if __name__ == "__main__":
    sys.exit(main())
