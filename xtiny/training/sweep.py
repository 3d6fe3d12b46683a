"""Oracle sweep: train every width candidate (and the base config) with one budget, find the observed knee.

Each candidate is an independent job (local process pool or Ray). Finished jobs (checkpoint_final.pth and
validation/summary.json present for the same trainer/budget) are read back instead of retrained. Writes
``xtiny.artifacts.sweep_json_path`` and a ``.png`` (Dice vs log-parameters, probe pick and observed knee).
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from xtiny.artifacts import search_json_path, sweep_json_path
from xtiny.atomic import atomic_write_json, read_json
from xtiny.errors import XTinyError
from xtiny.nnunet.checkpoints import count_checkpoint_parameters
from xtiny.nnunet.names import resolve_dataset_name
from xtiny.nnunet.splits import parse_fold
from xtiny.nnunet.trained import model_folder, read_validation_dice
from xtiny.paths import ensure_nnunet_env
from xtiny.training.results import trainer_name_for

KNEE_TOLERANCE = 0.01  # "within 1 Dice point of the best"
BACKENDS = ("nnunet", "monai")
EXECUTORS = ("local", "ray")


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one candidate (or read it back when finished); a picklable top-level function for any executor."""
    ensure_nnunet_env(quiet=True)
    trainer = trainer_name_for(job["epochs"], job["iterations_per_epoch"], job["val_iterations"], job["backend"])
    fold_folder = model_folder(job["dataset"], trainer, job["configuration"]) / f"fold_{job['fold']}"
    checkpoint = fold_folder / "checkpoint_final.pth"
    skipped = checkpoint.is_file() and read_validation_dice(fold_folder) is not None
    seconds = None
    if not skipped:
        kwargs = {k: job[k] for k in ("fold", "epochs", "iterations_per_epoch", "val_iterations", "device")}
        if job["backend"] == "monai":
            from xtiny.training.monai_backend import train_monai as train
        else:
            from xtiny.training.nnunet_backend import train_nnunet as train
        seconds = train(job["dataset"], job["configuration"], **kwargs).seconds
    return {"configuration": job["configuration"], "trainer_name": trainer, "checkpoint": str(checkpoint),
            "params": count_checkpoint_parameters(checkpoint), "dice": read_validation_dice(fold_folder),
            "train_seconds": seconds, "skipped_finished": skipped}


def observed_knee(rows: list[dict[str, Any]], tolerance: float = KNEE_TOLERANCE) -> str | None:
    """Smallest candidate (by parameters) whose Dice is within ``tolerance`` of the best Dice."""
    scored = [r for r in rows if r.get("dice") is not None]
    if not scored:
        return None
    best = max(r["dice"] for r in scored)
    return min((r for r in scored if r["dice"] >= best - tolerance), key=lambda r: r["params"])["configuration"]


def compare(rows: list[dict[str, Any]], probe_pick: str | None, knee: str | None) -> dict[str, Any]:
    """How the probe's pick relates to the observed knee (agreement, Dice gap, size ratio)."""
    by_name = {r["configuration"]: r for r in rows}
    best = max((r["dice"] for r in rows if r.get("dice") is not None), default=None)
    out: dict[str, Any] = {"probe_pick": probe_pick, "observed_knee": knee, "agree": probe_pick == knee,
                           "best_dice": best}
    if probe_pick in by_name and best is not None and by_name[probe_pick].get("dice") is not None:
        pick = by_name[probe_pick]
        out["probe_pick_dice"] = pick["dice"]
        out["probe_pick_dice_gap_points"] = round(100 * (best - pick["dice"]), 3)
        out["probe_pick_within_tolerance"] = pick["dice"] >= best - KNEE_TOLERANCE
        if knee in by_name:
            out["probe_pick_params_over_knee_params"] = round(pick["params"] / by_name[knee]["params"], 4)
    return out


def _require_ray():
    try:
        import ray
    except ImportError as exc:
        raise XTinyError("--executor ray needs the 'ray' package, which is not installed.",
                         fix="pip install 'xtiny[ray]' or use --executor local.") from exc
    return ray


def _run_jobs(jobs: list[dict[str, Any]], workers: int, executor: str) -> list[dict[str, Any]]:
    if executor == "ray":
        ray = _require_ray()
        if not ray.is_initialized():
            ray.init(num_cpus=max(1, workers), include_dashboard=False, ignore_reinit_error=True)
        remote = ray.remote(train_job)
        return ray.get([remote.remote(job) for job in jobs])
    if workers <= 1:
        return [train_job(job) for job in jobs]
    import multiprocessing

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(train_job, jobs))


def run_sweep(dataset: str | int, *, epochs: int, backend: str = "nnunet", jobs: int = 1,
              executor: str = "local", caps: list[int] | None = None, base_configuration: str = "2d",
              fold: int | str = 0, iterations_per_epoch: int | None = None, val_iterations: int | None = None,
              device: str = "cpu", include_base: bool = True) -> dict[str, Any]:
    """Train the family of ``base_configuration`` (+ the base) with one budget; write sweep json + png."""
    from xtiny.family import add_width_family

    ensure_nnunet_env(quiet=True)
    if backend not in BACKENDS:
        raise XTinyError(f"unknown backend '{backend}'.", fix=f"use one of {', '.join(BACKENDS)}.")
    if executor not in EXECUTORS:
        raise XTinyError(f"unknown executor '{executor}'.", fix=f"use one of {', '.join(EXECUTORS)}.")
    if executor == "ray":
        _require_ray()
    trainer_name_for(epochs, iterations_per_epoch, val_iterations, backend)  # a bad budget fails before any job
    name = resolve_dataset_name(dataset)
    fold = parse_fold(fold)
    configs = list(add_width_family(name, base_configuration, caps))
    if include_base and base_configuration not in configs:
        configs.insert(0, base_configuration)
    job_list = [{"dataset": name, "configuration": c, "backend": backend, "fold": fold, "epochs": epochs,
                 "iterations_per_epoch": iterations_per_epoch, "val_iterations": val_iterations,
                 "device": device} for c in configs]
    started = time.perf_counter()
    rows = sorted(_run_jobs(job_list, jobs, executor), key=lambda r: -r["params"])
    search = search_json_path(name, base_configuration)
    probe_pick = read_json(search, "search result").get("chosen") if search.is_file() else None
    knee = observed_knee(rows)
    result = {"dataset": name, "base_configuration": base_configuration, "backend": backend, "fold": fold,
              "epochs": epochs, "iterations_per_epoch": iterations_per_epoch, "val_iterations": val_iterations,
              "device": device, "knee_tolerance": KNEE_TOLERANCE, "candidates": rows,
              "comparison": compare(rows, probe_pick, knee), "search_json": str(search) if probe_pick else None,
              "wall_seconds": round(time.perf_counter() - started, 3)}
    path = sweep_json_path(name, base_configuration)
    atomic_write_json(path, result)
    result["plot"] = str(plot_sweep(result, path.with_suffix(".png")))
    return result


def plot_sweep(result: dict[str, Any], path: Path) -> Path:
    """Dice vs log10(parameters), with the probe pick and the observed knee marked."""
    import io

    from xtiny.plotting import pyplot

    plt = pyplot()

    from xtiny.atomic import atomic_write_bytes

    rows = [r for r in result["candidates"] if r.get("dice") is not None]
    comparison = result["comparison"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot([r["params"] for r in rows], [100 * r["dice"] for r in rows], "o-", color="tab:blue")
    for r in rows:
        ax.annotate(r["configuration"], (r["params"], 100 * r["dice"]), fontsize=7, textcoords="offset points",
                    xytext=(3, 4))
    if rows:
        best = 100 * max(r["dice"] for r in rows)
        ax.axhspan(best - 100 * KNEE_TOLERANCE, best, color="tab:green", alpha=0.12, label="within 1 pt of best")
    for key, style, label in (("observed_knee", "tab:green", "observed knee"), ("probe_pick", "tab:red", "probe pick")):
        hit = next((r for r in rows if r["configuration"] == comparison.get(key)), None)
        if hit:
            ax.scatter([hit["params"]], [100 * hit["dice"]], s=160, facecolors="none", edgecolors=style,
                       linewidths=2, label=f"{label}: {hit['configuration']}")
    ax.set_xscale("log")
    ax.set_xlabel("parameters (log)")
    ax.set_ylabel("validation Dice (%)")
    ax.set_title(f"{result['dataset']}: {result['backend']} sweep, {result['epochs']} epochs")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
