"""Shared helpers for bench scripts: machine facts and the JSON result schema BENCHMARKS.md is built from.

Schema: {"name", "title", "command", "date", "machine", "versions", "table": {"header", "rows"},
"notes": [...], ...anything else}. ``bench/make_benchmarks_md.py`` renders every result file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from xtiny.versions import stack_versions

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_model() -> dict:
    """The CPU's model name and its wide-vector flags as /proc/cpuinfo gives them (empty where it can't be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    lines = text.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    return {"cpu_model": model, "cpu_flags": [f for f in ("avx2", "fma", "avx512f") if f in flags]}


def machine() -> dict:
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), **cpu_model()}
    try:
        import torch

        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["cuda"] = None
    try:
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
        info["memory_gib"] = round(int(mem) / 2**20, 1)
    except OSError:
        pass
    return info




def _pss_bytes(pid: int) -> int:
    """Proportional set size of ``pid`` (shared pages split between the processes sharing them; RSS where the kernel
    has no smaps_rollup); 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def _tree_pss(root: int) -> tuple[int, int]:
    """Summed proportional set size of ``root``'s live descendants (not ``root`` itself), from /proc, and their
    count."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    total, count, todo = 0, 0, list(parents.get(root, []))
    while todo:
        pid = todo.pop()
        total, count = total + _pss_bytes(pid), count + 1
        todo += parents.get(pid, [])
    return total, count


# Runs the command as its child and reports the child's wall time and RUSAGE_CHILDREN's peak RSS. A small process
# of its own because a child's ru_maxrss starts at its forking parent's peak (the kernel keeps it across exec), and
# the bench's own process can be large.
_MEASURE_WRAPPER = """import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
open(sys.argv[1], "w").write(json.dumps({"returncode": code, "wall_s": wall, "maxrss_kib": peak}))
"""


def run_measured(cmd: list[str], *, env: dict | None = None, cwd: Path | None = None, log: Path,
                 poll_s: float = 0.25) -> dict:
    """Run ``cmd`` to its end (output to ``log``) under a small wrapper process; the whole process timed, and its
    memory measured two ways:

    * ``max_process_rss_gib``: peak RSS of the largest single process of its tree (the command and every descendant
      it waited for), the wrapper's ``getrusage(RUSAGE_CHILDREN).ru_maxrss``: what ``/usr/bin/time -v`` reports as
      "Maximum resident set size";
    * ``tree_peak_pss_gib``: the largest sum of proportional set sizes (PSS: a page shared by n processes counts 1/n
      in each, so forked or spawned workers sharing libraries are not counted n times, as a sum of RSS would) over
      the command and all its live descendants, sampled from /proc every ``poll_s`` s, so a spike shorter than that
      can be missed; ``tree_max_processes``: the most processes seen alive in that tree at once.
    """
    peak, most, done, report = 0, 0, threading.Event(), log.with_suffix(".rusage.json")
    report.unlink(missing_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", _MEASURE_WRAPPER, str(report), *cmd], env=env, cwd=cwd,
                                stdout=out, stderr=subprocess.STDOUT)

        def sample() -> None:
            nonlocal peak, most
            while True:
                total, count = _tree_pss(proc.pid)
                peak, most = max(peak, total), max(most, count)
                if done.wait(poll_s):
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        done.set()
        sampler.join()
    measured = json.loads(report.read_text()) if report.is_file() else {"returncode": proc.returncode or -1,
                                                                        "wall_s": float("nan"), "maxrss_kib": 0}
    return {"returncode": measured["returncode"], "wall_s": round(measured["wall_s"], 2),
            "max_process_rss_gib": round(measured["maxrss_kib"] / 2**20, 3),
            "tree_peak_pss_gib": round(peak / 2**30, 3), "tree_max_processes": most, "poll_s": poll_s, "log": str(log)}


def write_result(name: str, title: str, header: list[str], rows: list[list], **extra) -> Path:
    """Write ``bench/results/<name>.json`` atomically with machine, versions, command and date."""
    from xtiny.atomic import atomic_write_json

    payload = {"name": name, "title": title, "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
               "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
               "versions": stack_versions(), "table": {"header": header, "rows": rows}, **extra}
    return atomic_write_json(RESULTS / f"{name}.json", payload)


def use_work_dir(work: Path) -> None:
    """Point nnU-Net's three folders at ``work/{raw,preprocessed,results}`` (created) for this process."""
    for key in ("raw", "preprocessed", "results"):
        os.environ[f"nnUNet_{key}"] = str(work / key)
        (work / key).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("nnUNet_compile", "false")
    os.environ.setdefault("nnUNet_n_proc_DA", "0")
    os.environ.setdefault("nnUNet_def_n_proc", "2")


def synthetic_dataset(work: Path, kind: str, dataset_id: int, cases: int, size: int) -> str:
    """A synthetic ``kind`` dataset in ``work``, nnU-Net-planned and preprocessed for 2d (reused when present)."""
    from xtiny.datasets.synth import generate_dataset
    from xtiny.nnunet.planning import plan_and_preprocess

    use_work_dir(work)
    if not any((work / "raw").glob(f"Dataset{dataset_id:03d}_*")):
        generate_dataset(kind, dataset_id=dataset_id, num_cases=cases, seed=0, size=size, raw_dir=work / "raw")
    return plan_and_preprocess(dataset_id, configurations=("2d",), num_processes=2)


def device_tag(device: str) -> str:
    """``cpu`` / ``cuda`` for result file names (``auto`` resolved)."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_average() -> float:
    """1-minute load average (rounded), recorded with every timing."""
    return round(os.getloadavg()[0], 2)


def trained_with_monai(work: Path, dataset_name: str, configuration: str, epochs: int, iterations: int,
                       device: str = "cpu") -> float | None:
    """Train ``configuration`` with the MONAI backend (fold 0, no validation batches) unless a finished run is in
    ``work``; returns the training seconds, or None when reused."""
    from xtiny.training.backends.monai_backend import train_monai
    from xtiny.training.spec import TrainSpec

    spec = TrainSpec(backend="monai", epochs=epochs, iterations_per_epoch=iterations, val_iterations=0, device=device)
    fold_dir = work / "results" / dataset_name / f"{spec.trainer_name}__nnUNetPlans__{configuration}" / "fold_0"
    if (fold_dir / "checkpoint_final.pth").is_file() and (fold_dir / "validation" / "summary.json").is_file():
        return None
    return train_monai(dataset_name, configuration, spec).seconds


def trained_widths_parser(description: str | None, caps: list[int]) -> argparse.ArgumentParser:
    """Arguments shared by the benches that reuse the accuracy bench's trained widths (caps, budget, work folder)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--caps", type=int, nargs="+", default=caps)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--work", default="/tmp/xtiny-bench-accuracy-small")
    return ap


def patient_dice_of(dataset_name: str, checkpoint: str | Path) -> dict[str, float | None] | None:
    """``{patient: Dice}`` of a trained fold's validation cases (its ``validation/summary.json``, each patient's
    slices pooled: :mod:`xtiny.evaluation.patient_dice`), for a dataset whose ``dataset.json`` names the patients;
    None otherwise."""
    from xtiny.evaluation.patient_dice import dice_by_patient, patients_of, records_of_validation_summary
    from xtiny.paths import nnunet_dirs

    dataset_json = json.loads((nnunet_dirs().raw / dataset_name / "dataset.json").read_text())
    patients = patients_of(dataset_json)
    summary_path = Path(checkpoint).parent / "validation" / "summary.json"
    if not patients or not summary_path.is_file():
        return None
    summary = json.loads(summary_path.read_text())
    labels = [int(lb) for lb in summary["mean"]]
    per = dice_by_patient(records_of_validation_summary(summary, dataset_json["file_ending"]), patients, labels)
    return {p: None if v["dice"] is None else round(100 * v["dice"], 2) for p, v in per.items()}


def few_patients_note(dataset_name: str) -> str | None:
    """The caveat every result on a dataset of few patients carries (None for other datasets)."""
    from xtiny.evaluation.patient_dice import patients_of
    from xtiny.nnunet.splits import splits_file
    from xtiny.paths import nnunet_dirs

    patients = patients_of(json.loads((nnunet_dirs().raw / dataset_name / "dataset.json").read_text()))
    if not patients:
        return None
    val = json.loads(splits_file(dataset_name).read_text())[0]["val"]
    held_out = sorted({patients.get(c, c) for c in val})
    return (f"FEW PATIENTS: {dataset_name} has {len(set(patients.values()))} patients; fold 0 validates on "
            f"{len(held_out)} of them ({', '.join(held_out)}; {len(val)} slices). Every Dice here is also given per "
            "patient (slices pooled); a knee or a gain seen on this few patients is an anecdote, not a benchmark.")
