"""Oracle sweep: train every width candidate (and the base config) with one budget, find the observed knee.

Each candidate is an independent job (local process pool, or Ray: :mod:`xtiny.training.schedules.ray_cluster`). Finished jobs (checkpoint_final.pth and
validation/summary.json present for the same trainer/budget) are read back instead of retrained. Writes
``xtiny.artifacts.sweep_json_path`` and a ``.png`` (Dice vs log-parameters, probe pick and observed knee).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xtiny.artifacts import search_json_path, sweep_json_path
from xtiny.atomic import atomic_write_json
from xtiny.errors import XTinyError
from xtiny.nnunet.checkpoints import count_checkpoint_parameters, load_checkpoint
from xtiny.nnunet.names import resolve_dataset_name
from xtiny.nnunet.trained import logged_training_seconds, model_folder, read_validation_dice
from xtiny.paths import ensure_nnunet_env
from xtiny.records.width_search import read_search_record
from xtiny.training.results import finished_training
from xtiny.training.schedules.ray_cluster import RayOptions, node_label, ray_connection, run_ray_jobs
from xtiny.training.spec import TrainSpec

KNEE_TOLERANCE = 0.01  # "within 1 Dice point of the best"
EXECUTORS = ("local", "ray")


def data_written_at(dataset_name: str, base_configuration: str) -> float | None:
    """When the base configuration's preprocessed data were written: trainings older than that are retrained."""
    from xtiny.nnunet.plans import load_plans, preprocessed_at

    return preprocessed_at(dataset_name, load_plans(dataset_name, base_configuration), base_configuration)


def job_kd(job: dict[str, Any]) -> tuple[float, float] | None:
    """``(alpha, temperature)`` of a job that distils ``job["teacher"]`` (a checked checkpoint path), else None."""
    return job["spec"].kd if job.get("teacher") else None


def job_not_before(job: dict[str, Any]) -> float | None:
    """What a finished training of ``job`` must be newer than: the data (``job["not_before"]``) and, for a KD
    student, its teacher's checkpoint (a student of an older teacher is retrained)."""
    times = [job.get("not_before")]
    if job_kd(job):
        times.append(Path(job["teacher"]).stat().st_mtime)
    return max((t for t in times if t is not None), default=None)


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one candidate ``{"dataset", "configuration", "spec": TrainSpec, "not_before", "teacher"?}`` (or read it
    back when finished after :func:`job_not_before`); a picklable top-level function for any executor.
    ``train_seconds`` is what this call spent; ``logged_seconds`` what the training took when it ran (from the
    checkpoint's log, also for a training read back). A job with ``teacher`` (a checkpoint path) and a spec with
    ``kd`` trains a KD student under its own trainer name, so KD and plain trainings are never read back for each
    other."""
    ensure_nnunet_env(quiet=True)
    spec: TrainSpec = job["spec"]
    kd = job_kd(job)
    fold_folder = model_folder(job["dataset"], spec.trainer_name, job["configuration"]) / f"fold_{spec.fold}"
    checkpoint = fold_folder / "checkpoint_final.pth"
    skipped = finished_training(fold_folder, job_not_before(job))
    seconds = None
    if not skipped:
        if spec.backend == "monai":
            from xtiny.training.backends.monai_backend import train_monai as train
        else:
            from xtiny.training.backends.nnunet_backend import train_nnunet as train
        from xtiny.console import progress_bar

        with progress_bar(spec.epochs, f"train {job['configuration']}{' + KD' if kd else ''}"):
            seconds = train(job["dataset"], job["configuration"], spec, teacher=job.get("teacher")).seconds
    loaded = load_checkpoint(checkpoint)  # once: parameters and the logged training time
    return {"configuration": job["configuration"], "trainer_name": spec.trainer_name, "checkpoint": str(checkpoint),
            "params": count_checkpoint_parameters(loaded), "dice": read_validation_dice(fold_folder),
            "train_seconds": seconds, "logged_seconds": logged_training_seconds(loaded),
            "device": spec.device, "skipped_finished": skipped, **({"teacher": job["teacher"]} if kd else {})}


def job_configurations(job: dict[str, Any]) -> list[str]:
    """The configurations a job trains: ``job["configurations"]`` for a family run, else ``[job["configuration"]]``."""
    return list(job.get("configurations") or [job["configuration"]])


def train_family_job(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Train a job's configurations as one family run (:func:`xtiny.training.backends.family_run.train_family`; a single
    configuration or a KD student trains alone with :func:`train_job`); one row per configuration, as
    :func:`train_job` gives it. ``train_seconds`` and ``logged_seconds`` of a member are its share of the family's
    time (by measured step time), so that a family's rows add up to its wall time."""
    configurations = job_configurations(job)
    if len(configurations) == 1 or job_kd(job):
        return [train_job({**{k: v for k, v in job.items() if k != "configurations"}, "configuration": c})
                for c in configurations]
    from xtiny.training.backends.family_nnunet import family_share_seconds
    from xtiny.training.backends.family_run import train_family

    ensure_nnunet_env(quiet=True)
    rows = []
    for result in train_family(job["dataset"], configurations, job["spec"], not_before=job_not_before(job)):
        loaded = load_checkpoint(result.checkpoint)
        share = family_share_seconds(result.fold_folder)
        read_back = bool(result.extra.get("read_back"))
        rows.append({"configuration": result.configuration, "trainer_name": result.trainer_name,
                     "checkpoint": str(result.checkpoint), "params": count_checkpoint_parameters(loaded),
                     "dice": result.validation_dice, "train_seconds": None if read_back else share,
                     "logged_seconds": share if share is not None else logged_training_seconds(loaded),
                     "device": job["spec"].device, "skipped_finished": read_back, "family": configurations})
    return rows


def family_jobs(job: dict[str, Any], configurations: list[str], family_size: int | None) -> list[dict[str, Any]]:
    """``configurations`` split into family runs of at most ``family_size`` networks (None: one run), in order."""
    size = len(configurations) if not family_size else max(1, int(family_size))
    return [{**job, "configurations": configurations[i:i + size]} for i in range(0, len(configurations), size)]


def check_family_size(family_size: int | None) -> None:
    """XTinyError (exit 2) for a ``--family-size`` that is not a whole number >= 1."""
    if family_size is not None and (isinstance(family_size, bool) or int(family_size) != family_size
                                    or family_size < 1):
        raise XTinyError(f"--family-size must be a whole number >= 1 (got {family_size}).",
                         fix="pass e.g. --family-size 4, or leave it out (one family run for all widths).")


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


def run_training_jobs(jobs: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    """Run :func:`train_family_job` over ``jobs`` here: in this process, or a local process pool when ``workers``
    > 1; the rows of all jobs, in order."""
    if workers <= 1:
        return [row for job in jobs for row in train_family_job(job)]
    import multiprocessing

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [row for rows in pool.map(train_family_job, jobs) for row in rows]


@dataclass(frozen=True)
class ExecutorChoice:
    """Where sweep and confirm run their jobs: ``local`` (this process, or a pool of ``jobs`` processes) or ``ray``
    (``ray_options``: :class:`xtiny.training.schedules.ray_cluster.RayOptions`; ``jobs`` trainings at once)."""

    executor: str = "local"
    jobs: int = 1
    ray_options: RayOptions | None = None


@dataclass
class TrainingExecutor:
    """Runs lists of jobs with :func:`train_family_job`; ``info`` describes where (recorded in sweep/confirm json)."""

    run: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    info: dict[str, Any]


@contextmanager
def training_executor(choice: ExecutorChoice, device: str) -> Iterator[TrainingExecutor]:
    """``local`` (this process or a pool of ``choice.jobs``) or ``ray`` (:mod:`xtiny.training.schedules.ray_cluster`:
    connected, resources for ``device`` and shared storage checked on entering, before any job; failed jobs come
    back as failed rows)."""
    if choice.executor not in EXECUTORS:
        raise XTinyError(f"unknown executor '{choice.executor}'.", fix=f"use one of {', '.join(EXECUTORS)}.")
    workers = choice.jobs
    if choice.executor == "local":
        yield TrainingExecutor(lambda jobs: run_training_jobs(jobs, workers), {"executor": "local", "jobs": workers})
        return
    with ray_connection(choice.ray_options or RayOptions(), jobs=workers, device=device) as setup:
        info = {"executor": "ray", "ray_address": setup.address or "local instance",
                "cpus_per_job": setup.cpus_per_job, "gpus_per_job": setup.gpus_per_job,
                "ray_nodes": [node_label(n) for n in setup.job_nodes]}
        yield TrainingExecutor(lambda jobs: run_ray_jobs(setup, train_family_job, jobs), info)


def sort_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Widest first; failed rows (no parameter count) last."""
    return sorted(rows, key=lambda r: (r.get("params") is None, -(r.get("params") or 0), r["configuration"]))


def run_sweep(dataset: str | int, spec: TrainSpec, *, executor: ExecutorChoice | None = None,
              caps: list[int] | None = None, base_configuration: str = "2d", include_base: bool = True,
              family_size: int | None = None) -> dict[str, Any]:
    """Train the family of ``base_configuration`` (+ the base) with ``spec`` (one budget for all); write sweep json
    + png.

    A job that failed (Ray: after its retry) is a row with ``"failed": True`` and its ``"error"``; its name is
    listed under ``"failed"``. A rerun trains only the missing and failed candidates. The widths train as family
    runs (:func:`train_family_job`) of at most ``family_size`` networks (None: as many runs as ``executor.jobs``;
    1: each alone), one family run per job of the executor (None: ``ExecutorChoice()``, this process)."""
    from xtiny.family import add_width_family

    ensure_nnunet_env(quiet=True)
    executor = executor or ExecutorChoice()
    if spec.kd is not None:
        raise XTinyError("a sweep trains without a teacher.", fix="leave the kd settings out of the sweep's spec.")
    check_family_size(family_size)
    name = resolve_dataset_name(dataset)
    with training_executor(executor, spec.device) as runner:  # Ray: checked before any write
        search = search_json_path(name, base_configuration)  # a broken search record stops it before training
        probe_pick = read_search_record(search).chosen if search.is_file() else None
        configs = list(add_width_family(name, base_configuration, caps))
        if include_base and base_configuration not in configs:
            configs.insert(0, base_configuration)
        job = {"dataset": name, "spec": spec, "not_before": data_written_at(name, base_configuration)}
        size = family_size or -(-len(configs) // max(1, executor.jobs))
        job_list = family_jobs(job, configs, size)
        started = time.perf_counter()
        rows = sort_rows(runner.run(job_list))
    knee = observed_knee(rows)
    result = {"dataset": name, "base_configuration": base_configuration, "backend": spec.backend, "fold": spec.fold,
              "epochs": spec.epochs, "iterations_per_epoch": spec.iterations_per_epoch,
              "val_iterations": spec.val_iterations, "device": spec.device, "knee_tolerance": KNEE_TOLERANCE,
              "candidates": rows,
              "comparison": compare(rows, probe_pick, knee), "search_json": str(search) if probe_pick else None,
              "failed": [r["configuration"] for r in rows if r.get("failed")], **runner.info,
              "family_runs": [j["configurations"] for j in job_list],
              "wall_seconds": round(time.perf_counter() - started, 3)}
    path = sweep_json_path(name, base_configuration)
    atomic_write_json(path, result)
    result["plot"] = str(plot_sweep(result, path.with_suffix(".png")))
    return result


def plot_dice_vs_params(rows: list[dict[str, Any]], marks: list[tuple[str | None, str, str]], title: str,
                        path: Path, *, band_points: float | None = None) -> Path:
    """Validation Dice vs log10(parameters) of trained widths (one curve: one family), with ``marks``
    ``(configuration, colour, label)`` circled and optionally a band ``band_points`` below the best Dice."""
    import io

    from xtiny.plotting import pyplot

    plt = pyplot()

    from xtiny.atomic import atomic_write_bytes

    rows = sorted((r for r in rows if r.get("dice") is not None), key=lambda r: r["params"])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot([r["params"] for r in rows], [100 * r["dice"] for r in rows], "o-", color="tab:blue")
    for r in rows:
        ax.annotate(r["configuration"], (r["params"], 100 * r["dice"]), fontsize=7, textcoords="offset points",
                    xytext=(3, 4))
    if rows and band_points is not None:
        best = 100 * max(r["dice"] for r in rows)
        ax.axhspan(best - band_points, best, color="tab:green", alpha=0.12, label=f"within {band_points:g} pt of best")
    for i, (configuration, colour, label) in enumerate(marks):
        hit = next((r for r in rows if r["configuration"] == configuration), None)
        if hit:
            ax.scatter([hit["params"]], [100 * hit["dice"]], s=160 + 100 * i, facecolors="none", edgecolors=colour,
                       linewidths=2, label=f"{label}: {hit['configuration']}")
    ax.set_xscale("log")
    ax.set_xlabel("parameters (log)")
    ax.set_ylabel("validation Dice (%)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def plot_sweep(result: dict[str, Any], path: Path) -> Path:
    """Dice vs log10(parameters), with the probe pick and the observed knee marked."""
    comparison = result["comparison"]
    return plot_dice_vs_params(result["candidates"], [(comparison.get("observed_knee"), "tab:green", "observed knee"),
                                                      (comparison.get("probe_pick"), "tab:red", "probe pick")],
                               f"{result['dataset']}: {result['backend']} sweep, {result['epochs']} epochs", path,
                               band_points=100 * KNEE_TOLERANCE)
