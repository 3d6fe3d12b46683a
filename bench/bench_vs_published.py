"""Benchmark: ``xtiny search`` next to the authors' published ``derive_xtiny_config.py`` (issue #17 item 3).

    .venv/bin/python bench/bench_vs_published.py --published-repo PATH --published-python PATH \\
        [--cases 60] [--size 256] [--num-samples all] [--work DIR] [--result NAME]

Both paths can also come from ``XTINY_PUBLISHED_REPO`` / ``XTINY_PUBLISHED_PYTHON``. Without them, or when they are
not usable, the bench prints how to set them up and exits 0 as skipped, writing nothing (so ``bench/run_all.py``
passes over it on a machine without the published side).

Setting up the published side, once, OUTSIDE this repository (the scripts are under a research-use licence: never
copy them into this repository). Python 3.11, like ours; the published pyproject asks for 3.13, monai, torchprofile
and torchvision, but ``derive_xtiny_config.py`` imports only nnU-Net and its dependencies (nibabel, Pillow, tqdm,
matplotlib, batchgenerators), all installed with it. ``nnunetv2==2.7.0`` is required: the scripts crash with 2.8::

    git clone https://github.com/alvinkimbowa/nntinyunet /work/published/nntinyunet
    python3.11 -m venv /work/published/venv
    /work/published/venv/bin/python -m pip install nnunetv2==2.7.0
    .venv/bin/python bench/bench_vs_published.py --published-repo /work/published/nntinyunet \\
        --published-python /work/published/venv/bin/python

What one run does, on CPU, one side after the other (ours first):

1. Data: a synthetic ultrasound-like dataset, ``xtiny.datasets.synth.generate_dataset("bus", ...)`` (id 992,
   ``--cases`` images of ``--size`` px, seed 0), planned and preprocessed for 2d by our nnU-Net
   (``xtiny.nnunet.planning.plan_and_preprocess``), in ``--work`` (default ``/tmp/xtiny-bench-vs-published-<cases>-
   <size>``; reused when present). Both sides get the same plans, as nnU-Net wrote them (any ``2d_xtiny*``
   configurations of an earlier run removed first, so each side writes its own candidates inside its timed run).
2. Ours: ``xtiny search -d 992 --device cpu --no-cache --quiet``, i.e. its defaults (the stop rule at confidence
   0.95, at most every image and 3 seeds, rule tv; its trail is recorded) on CPU with the score cache off; the whole CLI process is timed (start-up and imports included). Pick: the
   ``chosen`` key of the search.json it writes.
3. Published: ``PYTHON src/derive_xtiny_config.py --dataset_id 992 --plans nnUNetPlans --trainer nnUNetTrainer
   --gpu -1 --num_samples all --out_dir WORK/published_out`` (its defaults: every training image, seed 369, metric
   jacobian; ``--gpu -1`` is CPU), the whole process timed, with its own nnU-Net folders: ``nnUNet_raw`` the same raw
   dataset, ``nnUNet_preprocessed`` = ``WORK/preprocessed_published`` holding copies of our ``nnUNetPlans.json``,
   ``dataset.json`` and ``dataset_fingerprint.json`` (the script adds its ``2d_xtiny*`` configurations to that
   plans file, so it never touches ours) and links to our preprocessed folders, ``nnUNet_results`` =
   ``WORK/results_published``. Its images are the raw ones, preprocessed on the fly by nnU-Net 2.7's predictor
   (2 worker processes) with those plans; the preprocessed folder must still exist, because 2.7's
   ``nnUNetTrainer.initialize()`` infers the dataset class from its files. 2.7 reads the ``.b2nd`` files our 2.8
   writes (checked with 2.7's ``nnUNetDatasetBlosc2.load_case``), so no second ``nnUNetv2_plan_and_preprocess`` is
   needed. Pick: the line ``XTinyU-Net: 2d_xtiny<C>`` it prints, mapped to cap C and to our candidate of that
   cap; its per-candidate scores come from the CSV it writes into ``--out_dir``.

Memory, each side: ``bench/common.py``'s ``run_measured``, i.e. the peak RSS of the largest single process of the
side's tree (``getrusage(RUSAGE_CHILDREN)`` in a small wrapper process: what ``/usr/bin/time -v`` reports) and the
peak of the proportional set size (PSS: shared pages split between the processes sharing them) summed over the
side's process and all its descendants, sampled from /proc every 0.25 s; the target check uses the larger. (A sum
of RSS would count the shared pages of the published side's forked and spawned helper processes several times.)
Also recorded: CPU model and flags, cores, load average before and after each side, both stacks' versions, the
published commit, the exact commands. Targets (recorded with whether they were met, never asserted): ours >= 10x
faster than the published script at 60 images of 256 px (it took 352 s on a 2-core AVX2 machine), >= 30x at 300;
ours' peak <= 2 GB (taken as 2e9 bytes); the same pick. Result: ``bench/results/vs_published_<cases>.json``
(``_<size>px`` added when not 256). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

DATASET_ID = 992
PUBLISHED_SCRIPT = Path("src") / "derive_xtiny_config.py"
CANDIDATE = re.compile(r"2d_xtiny(\d+)")
SPEEDUP_TARGETS = {(60, 256): 10.0, (300, 256): 30.0}  # (cases, size) -> ours at least this many times faster
PEAK_TARGET_BYTES = 2e9
PROBE = ("import json, platform, importlib.metadata as m; import nnunetv2, torch, nibabel, PIL, matplotlib, tqdm, "
         "batchgenerators; print(json.dumps({'python': platform.python_version(), **{d: m.version(d) for d in "
         "('nnunetv2', 'torch', 'dynamic_network_architectures', 'numpy')}}))")
SETUP = """bench_vs_published: skipped ({why}); nothing written.
Set up the authors' published scripts once, outside this repository (research-use licence: never copy them in):
    git clone https://github.com/alvinkimbowa/nntinyunet /work/published/nntinyunet
    python3.11 -m venv /work/published/venv
    /work/published/venv/bin/python -m pip install nnunetv2==2.7.0
then run
    .venv/bin/python bench/bench_vs_published.py --published-repo /work/published/nntinyunet \\
        --published-python /work/published/venv/bin/python
(or export XTINY_PUBLISHED_REPO and XTINY_PUBLISHED_PYTHON)."""


def published_side(repo: str | None, python: str | None) -> tuple[dict | None, str]:
    """The published side's versions and commit, or None and why it can't be used."""
    if not repo or not python:
        return None, "--published-repo / --published-python not given"
    if not (Path(repo) / PUBLISHED_SCRIPT).is_file():
        return None, f"{Path(repo) / PUBLISHED_SCRIPT} not found"
    if not (Path(python).is_file() and os.access(python, os.X_OK)):
        return None, f"{python} is not an executable Python"
    probe = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, env=_published_env_base())
    if probe.returncode:
        tail = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"{python} cannot import nnunetv2 and the scripts' dependencies ({tail})"
    versions = json.loads(probe.stdout.strip().splitlines()[-1])
    if not versions["nnunetv2"].startswith("2.7."):
        return None, f"{python} has nnunetv2 {versions['nnunetv2']}; the published scripts need 2.7.0"
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"versions": versions, "commit": commit or None, "repo": str(Path(repo).resolve())}, ""


def _published_env_base() -> dict:
    """Our environment less what would point the published Python at our virtual environment; CPU only."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    return env | {"CUDA_VISIBLE_DEVICES": ""}


def pristine_plans(source_folder: Path, target_folder: Path) -> None:
    """``nnUNetPlans.json`` of ``source_folder`` without any ``2d_xtiny*`` configuration, written to ``target_folder``;
    a different target also gets copies of ``dataset.json`` and ``dataset_fingerprint.json`` and links to the
    preprocessed data folders (``nnUNetPlans_2d``, ``gt_segmentations``)."""
    from xtiny.atomic import atomic_write_json, read_json

    plans = read_json(source_folder / "nnUNetPlans.json")
    plans["configurations"] = {k: v for k, v in plans["configurations"].items() if not CANDIDATE.fullmatch(k)}
    if source_folder != target_folder:
        target_folder.mkdir(parents=True, exist_ok=True)
        for name in ("dataset.json", "dataset_fingerprint.json"):
            shutil.copy2(source_folder / name, target_folder / name)
        for folder in (f for f in source_folder.iterdir() if f.is_dir()):
            if not (target_folder / folder.name).exists():
                (target_folder / folder.name).symlink_to(folder, target_is_directory=True)
    atomic_write_json(target_folder / "nnUNetPlans.json", plans)


def ours_command(args) -> list[str]:
    script = Path(sys.executable).with_name("xtiny")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "xtiny"]
    cmd += ["search", "-d", str(DATASET_ID), "--device", "cpu", "--no-cache", "--quiet"]
    cmd += ["-k", str(args.k)] if args.k else []
    return cmd + (["--seeds", str(args.seeds)] if args.seeds else [])


def published_pick(log: Path, out_dir: Path) -> dict:
    """The published pick (its ``XTinyU-Net: <config>`` line) and its per-candidate rows from the CSV it wrote."""
    from xtiny.nnunet.width_names import width_configuration_name

    found = re.findall(r"^XTinyU-Net: (\S+)\s*$", log.read_text(errors="replace"), re.M)
    match = CANDIDATE.fullmatch(found[-1]) if found else None
    rows = []
    for path in sorted(out_dir.glob("*_metrics_K*_seed*.csv")):
        with path.open(newline="") as f:
            rows += [{"name": r["cfg"], "params": int(r["params"]), "score": float(r["jacobian"])}
                     for r in csv.DictReader(f) if CANDIDATE.fullmatch(r["cfg"])]
    return {"pick": found[-1] if found else None, "cap": int(match.group(1)) if match else None,
            "as_ours": width_configuration_name("2d", int(match.group(1))) if match else None, "candidates": rows}


def _side(label: str, cmd: list[str], env: dict, work: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import load_average, run_measured

    load = os.getloadavg()
    print(f"[vs_published] {label}: {' '.join(cmd)}", flush=True)
    run = run_measured(cmd, env=env, cwd=work, log=work / f"{label}.log")
    run |= {"command": cmd, "loadavg_before": list(load), "loadavg_after_1min": load_average()}
    if run["returncode"]:
        tail = "\n".join(Path(run["log"]).read_text(errors="replace").splitlines()[-25:])
        raise SystemExit(f"[vs_published] {label} exited {run['returncode']}; nothing written. Log {run['log']}:\n"
                         f"{tail}")
    print(f"[vs_published] {label}: {run['wall_s']:.1f} s, peak {run['tree_peak_pss_gib']:.2f} GiB PSS (tree of "
          f"{run['tree_max_processes']} processes at most, sampled), {run['max_process_rss_gib']:.2f} GiB RSS (largest "
          f"process)", flush=True)
    return run


def _peak(run: dict) -> float:
    return max(run["tree_peak_pss_gib"], run["max_process_rss_gib"])


def _report(args, ours: dict, pub: dict, published: dict, prepare_s: float) -> dict:
    """Ratios, targets and the comparison, with the pieces the result file records."""
    speedup = pub["wall_s"] / ours["wall_s"]
    target = SPEEDUP_TARGETS.get((args.cases, args.size))
    same = pub["pick"]["as_ours"] == ours["search"]["chosen"]
    ours_params = {c["name"]: c["params"] for c in ours["search"]["candidates"]}
    pub_params = {c["name"]: c["params"] for c in pub["pick"]["candidates"]}
    return {"cases": args.cases, "size": args.size, "dataset_id": DATASET_ID, "order": ["ours", "published"],
            "prepare_s": round(prepare_s, 1), "speedup": round(speedup, 2), "speedup_target": target,
            "speedup_target_met": None if target is None else speedup >= target,
            "ours_peak_gib": _peak(ours), "peak_target_gib": round(PEAK_TARGET_BYTES / 2**30, 3),
            "peak_target_met": _peak(ours) * 2**30 <= PEAK_TARGET_BYTES, "same_pick": same,
            "same_candidates": ours_params == pub_params,
            "memory_measure": "max(peak PSS summed over the side's process tree, sampled from /proc every 0.25 s; "
                              "peak RSS of its largest single process, getrusage(RUSAGE_CHILDREN) in a wrapper, "
                              "as /usr/bin/time -v)",
            "published_inputs": "raw images preprocessed on the fly by nnU-Net 2.7's predictor with a copy of our "
                                "plans (our preprocessed folders linked, as its trainer's initialize() looks at "
                                "them); no second plan_and_preprocess",
            "published": published, "ours": ours, "published_run": pub}


def _write(args, report: dict) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import write_result

    ours, pub = report["ours"], report["published_run"]
    search = ours["search"]
    rows = [["xtiny search (ours)", search["k"], len(search["seeds"]), ours["wall_s"], ours["tree_peak_pss_gib"],
             ours["max_process_rss_gib"], search["chosen"], search["chosen_cap"]],
            ["derive_xtiny_config.py (published)", args.cases if args.num_samples == "all" else args.num_samples, 1,
             pub["wall_s"], pub["tree_peak_pss_gib"], pub["max_process_rss_gib"], pub["pick"]["pick"],
             pub["pick"]["cap"]]]
    pub_scores = {c["name"]: c for c in pub["pick"]["candidates"]}
    per_candidate = [[c["name"], c["params"], pub_scores.get(c["name"], {}).get("params", ""), round(c["score"], 4),
                      round(pub_scores[c["name"]]["score"], 4) if c["name"] in pub_scores else ""]
                     for c in search["candidates"]]
    target = (f"target >= {report['speedup_target']:.0f}x: {'met' if report['speedup_target_met'] else 'NOT met'}"
              if report["speedup_target"] else "no target at this size (targets: 10x at 60 and 30x at 300 images of "
              "256 px)")
    notes = [f"Speed-up (published wall / ours wall, whole processes): {report['speedup']:.1f}x; {target}.",
             f"Ours' peak {report['ours_peak_gib']:.2f} GiB; target <= 2 GB (2e9 bytes): "
             f"{'met' if report['peak_target_met'] else 'NOT met'}. Memory = {report['memory_measure']}.",
             f"Same pick: {'yes' if report['same_pick'] else 'NO'} (published {pub['pick']['pick']} = cap "
             f"{pub['pick']['cap']} = our {pub['pick']['as_ours']}; ours {search['chosen']}). Same candidates "
             f"(names and parameter counts): {'yes' if report['same_candidates'] else 'NO'}.",
             f"Data: synthetic bus, {args.cases} cases of {args.size} px, planned with nnU-Net "
             f"{report['ours_versions']['nnunetv2']} in {report['prepare_s']:.0f} s (not timed in either side). "
             f"Published inputs: {report['published_inputs']}.",
             f"Published: commit {report['published']['commit']}, Python {report['published']['versions']['python']}, "
             f"nnunetv2 {report['published']['versions']['nnunetv2']}, torch {report['published']['versions']['torch']}"
             f"; command `{' '.join(pub['command'])}`.",
             f"Ours: `{' '.join(ours['command'])}`. Run one after the other, ours first; load average (1 min) "
             f"{ours['loadavg_before'][0]:.2f} before ours, {pub['loadavg_before'][0]:.2f} before the published side, "
             f"{pub['loadavg_after_1min']:.2f} at the end."]
    name = args.result or f"vs_published_{args.cases}" + ("" if args.size == 256 else f"_{args.size}px")
    return write_result(name, f"xtiny search vs the published derive_xtiny_config.py, {args.cases} images of "
                        f"{args.size} px, CPU", ["side", "images", "seeds", "wall s", "peak PSS GiB (tree, sampled)",
                                                 "largest process RSS GiB", "pick", "cap"], rows, notes=notes,
                        extra_tables=[{"title": "Per candidate (score: mean Jacobian norm; ours over K images x seeds,"
                                                " published over its images, seed 369)",
                                       "header": ["candidate", "params (ours)", "params (published)", "ours score",
                                                  "published score"], "rows": per_candidate}],
                        **{k: v for k, v in report.items() if k != "ours_versions"})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--published-repo", default=os.environ.get("XTINY_PUBLISHED_REPO"),
                    help="clone of the published repository (default $XTINY_PUBLISHED_REPO)")
    ap.add_argument("--published-python", default=os.environ.get("XTINY_PUBLISHED_PYTHON"),
                    help="Python with nnunetv2==2.7.0 (default $XTINY_PUBLISHED_PYTHON)")
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--num-samples", default="all", help="the published script's --num_samples (default all)")
    ap.add_argument("-k", type=int, default=None, help="ours' -k (default: xtiny search's own)")
    ap.add_argument("--seeds", type=int, default=None, help="ours' --seeds (default: xtiny search's own)")
    ap.add_argument("--work", default=None, help="work folder (default /tmp/xtiny-bench-vs-published-<cases>-<size>)")
    ap.add_argument("--result", default=None, help="result name: bench/results/<name>.json")
    args = ap.parse_args()
    published, why = published_side(args.published_repo, args.published_python)
    if published is None:
        print(SETUP.format(why=why))
        return 0

    import time

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import synthetic_dataset

    work = Path(args.work or f"/tmp/xtiny-bench-vs-published-{args.cases}-{args.size}").resolve()
    started = time.perf_counter()
    name = synthetic_dataset(work, "bus", DATASET_ID, args.cases, args.size)  # sets nnU-Net's folders: imports after
    from xtiny.artifacts import search_json_path
    from xtiny.records.width_search import read_search_record
    from xtiny.versions import stack_versions

    ours_folder, pub_folder = work / "preprocessed" / name, work / "preprocessed_published" / name
    pristine_plans(ours_folder, ours_folder)
    pristine_plans(ours_folder, pub_folder)
    out_dir = work / "published_out"
    shutil.rmtree(out_dir, ignore_errors=True)  # the published script appends to its CSV
    (work / "results_published").mkdir(exist_ok=True)
    prepare_s = time.perf_counter() - started

    ours = _side("ours", ours_command(args), os.environ | {"CUDA_VISIBLE_DEVICES": ""}, work)
    record = read_search_record(search_json_path(name, "2d")).to_json()
    ours["search"] = {k: record[k] for k in ("chosen", "chosen_cap", "rule", "k", "seeds", "device", "timings",
                                             "sampling")} | {
        "candidates": [{k: c[k] for k in ("name", "cap", "params", "score", "scores_per_seed")}
                       for c in record["candidates"]]}
    print(f"[vs_published] ours picked {ours['search']['chosen']}", flush=True)
    pub_env = _published_env_base() | {"nnUNet_raw": str(work / "raw"),
                                       "nnUNet_preprocessed": str(work / "preprocessed_published"),
                                       "nnUNet_results": str(work / "results_published")}
    pub_cmd = [args.published_python, str(Path(args.published_repo).resolve() / PUBLISHED_SCRIPT), "--dataset_id",
               str(DATASET_ID), "--plans", "nnUNetPlans", "--trainer", "nnUNetTrainer", "--gpu", "-1",
               "--num_samples", args.num_samples, "--out_dir", str(out_dir)]
    pub = _side("published", pub_cmd, pub_env, work)
    pub["pick"] = published_pick(Path(pub["log"]), out_dir)
    print(f"[vs_published] published picked {pub['pick']['pick']} (= our {pub['pick']['as_ours']})", flush=True)
    report = _report(args, ours, pub, published, prepare_s) | {"ours_versions": stack_versions()}
    print(f"[vs_published] speed-up {report['speedup']:.1f}x, same pick: {report['same_pick']}")
    print(f"[vs_published] wrote {_write(args, report)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
