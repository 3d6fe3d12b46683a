"""Ray as the executor of the sweep's and confirm's trainings, on a local instance or an existing cluster.

:func:`ray_connection` connects (``--ray-address ADDR|auto`` or ``RAY_ADDRESS``: the existing cluster, with no
resource arguments to ``ray.init``; neither: a local instance sized by ``--jobs``; Ray already initialized in this
process: that one), checks that some node can run a job of ``--cpus-per-job``/``--gpus-per-job``, and that every
such node sees the driver's ``nnUNet_preprocessed`` and ``nnUNet_results`` (a sentinel file the driver writes,
read by one task per node), before any job starts. :func:`run_ray_jobs` runs the jobs with one retry each (an
exception or a dead worker); a job that fails twice comes back as a row with ``"failed": True`` and its error.
Ctrl-C cancels the jobs not finished; finished trainings stay on disk and a rerun reads them back.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from xtiny.errors import XTinyError
from xtiny.paths import ENV_NAMES, nnunet_dirs

RAY_ADDRESS_ENV = "RAY_ADDRESS"
SENTINEL_PREFIX = ".xtiny-storage-check-"
STORAGE_CHECK_TIMEOUT_S = 300  # a node starts one worker process for the check (seconds on a busy node)
JOB_RETRIES = 1  # a job that raises or whose worker dies runs once more
FORWARDED_ENV = ("nnUNet_compile",)  # nnU-Net switches of the driver that every job follows (besides the folders)
_STORAGE_FIX = ("mount the same shared storage at the same path on every Ray node, or set nnUNet_preprocessed and "
                "nnUNet_results (before `xtiny`) to folders on storage that every node mounts at that path.")


@dataclass
class RayOptions:
    """How Ray runs the jobs: ``address`` (None: ``RAY_ADDRESS``, else a local instance), CPUs and GPUs per job
    (``gpus_per_job`` None: 1 with ``--device cuda``, else 0)."""

    address: str | None = None
    gpus_per_job: float | None = None
    cpus_per_job: float = 1.0


@dataclass
class RaySetup:
    """A checked connection: the per-job resources, the nodes that can run a job, the jobs' environment."""

    address: str | None
    cpus_per_job: float
    gpus_per_job: float
    job_nodes: list[dict[str, Any]]
    env_vars: dict[str, str] = field(default_factory=dict)


def require_ray():
    """The ``ray`` module, or XTinyError saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise XTinyError("--executor ray needs the 'ray' package, which is not installed.",
                         fix="pip install 'xtiny[ray]' or use --executor local.") from exc
    return ray


def cluster_address(address: str | None) -> str | None:
    """The cluster to connect to: ``address`` (``--ray-address``), else ``RAY_ADDRESS``, else None (local)."""
    chosen = (address or os.environ.get(RAY_ADDRESS_ENV) or "").strip()
    return chosen or None


def per_job_resources(options: RayOptions, device: str) -> tuple[float, float]:
    """``(cpus, gpus)`` per job; XTinyError for a negative count or a CUDA job without a GPU."""
    gpus = options.gpus_per_job
    if gpus is None:
        gpus = 1.0 if str(device).startswith("cuda") else 0.0
    cpus = options.cpus_per_job
    if not cpus > 0:
        raise XTinyError(f"--cpus-per-job must be above 0 (got {cpus}).", fix="pass e.g. --cpus-per-job 4.")
    if not gpus >= 0:
        raise XTinyError(f"--gpus-per-job must be 0 or more (got {gpus}).", fix="pass e.g. --gpus-per-job 1.")
    if gpus == 0 and str(device).startswith("cuda"):
        raise XTinyError(f"--device {device} with --gpus-per-job 0: Ray would give the jobs no GPU to train on.",
                         fix="leave --gpus-per-job out (1 GPU per job) or use --device cpu.")
    return float(cpus), float(gpus)


def _check_reachable(address: str, named_by: str) -> None:
    """XTinyError when nothing listens at ``host:port`` (``auto`` and ``ray://`` addresses are left to Ray)."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            return
    except (OSError, ValueError) as exc:
        raise XTinyError(f"cannot reach a Ray cluster at {address} ({named_by}): {exc}.",
                         fix="start one with `ray start --head`, check the address with `ray status` on its head "
                             "node, or leave --ray-address and RAY_ADDRESS unset to start a local instance.") from exc


def _init_ray(ray, address: str | None, named_by: str, jobs: int, cpus_per_job: float) -> bool:
    """Connect to ``address`` (given by ``named_by``) or start a local instance; False when Ray was already
    initialized in this process."""
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address is None:
        ray.init(address="local", num_cpus=max(1, round(jobs * cpus_per_job)), include_dashboard=False, **quiet)
        return True
    _check_reachable(address, named_by)
    try:
        ray.init(address=address, **quiet)  # an existing cluster: no resource arguments
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise XTinyError(f"cannot connect to the Ray cluster at {address} ({named_by}): {exc}",
                         fix="start one with `ray start --head`, check the address with `ray status`, or leave "
                             "--ray-address and RAY_ADDRESS unset to start a local instance.") from exc
    return True


def node_label(node: dict[str, Any]) -> str:
    """``host (ip, node id prefix)`` of a ``ray.nodes()`` entry."""
    return f"{node.get('NodeManagerHostname', '?')} ({node.get('NodeManagerAddress', '?')}, " \
           f"node {str(node.get('NodeID', '?'))[:8]})"


def job_nodes(nodes: list[dict[str, Any]], cpus: float, gpus: float) -> list[dict[str, Any]]:
    """The alive nodes with at least ``cpus`` CPUs and ``gpus`` GPUs: those that will run jobs. XTinyError when
    there is none (e.g. ``--gpus-per-job`` on a cluster without GPUs)."""
    alive = [n for n in nodes if n.get("Alive")]
    fit = [n for n in alive if n["Resources"].get("CPU", 0) >= cpus and n["Resources"].get("GPU", 0) >= gpus]
    if fit:
        return fit
    total_gpus = sum(n["Resources"].get("GPU", 0) for n in alive)
    shapes = "; ".join(f"{node_label(n)}: {n['Resources'].get('CPU', 0):g} CPUs, {n['Resources'].get('GPU', 0):g} GPUs"
                       for n in alive)
    if gpus > 0 and total_gpus == 0:
        raise XTinyError(f"--gpus-per-job {gpus:g}: the Ray cluster has no GPU ({shapes}).",
                         fix="add GPU nodes to the cluster, or train on CPUs: --device cpu --gpus-per-job 0.")
    raise XTinyError(f"no node of the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs for one job ({shapes}).",
                     fix="lower --cpus-per-job / --gpus-per-job, or add bigger nodes.")


def job_environment() -> dict[str, str]:
    """The driver's nnU-Net folders (absolute) and :data:`FORWARDED_ENV`, set in every job's worker."""
    env = {name: str(Path(os.environ[name]).absolute()) for name in ENV_NAMES.values()}
    env.update({name: os.environ[name] for name in FORWARDED_ENV if name in os.environ})
    return env


def read_sentinels(paths: list[str], token: str) -> list[tuple[str, str]]:
    """On a node: ``(path, problem)`` for each sentinel that is missing or holds another token."""
    problems = []
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            problems.append((path, f"cannot read {Path(path).name}: {exc.strerror or exc}"))
            continue
        if text != token:
            problems.append((path, "it holds another file of that name (a different folder is mounted there)"))
    return problems


def check_shared_storage(ray, nodes: list[dict[str, Any]], env_vars: dict[str, str]) -> None:
    """Write a sentinel under ``nnUNet_preprocessed`` and ``nnUNet_results``, read both with one task on each of
    ``nodes``; XTinyError naming the first node and folder that cannot see them. The sentinels are removed."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    dirs = nnunet_dirs()
    token = uuid.uuid4().hex
    folders = {"nnUNet_preprocessed": dirs.preprocessed.absolute(), "nnUNet_results": dirs.results.absolute()}
    sentinels = {str(folder / f"{SENTINEL_PREFIX}{token}"): var for var, folder in folders.items()}
    probe = ray.remote(read_sentinels)
    try:
        for path in sentinels:
            Path(path).write_text(token)
        refs = [probe.options(num_cpus=0, max_retries=0, runtime_env={"env_vars": env_vars},
                              scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                .remote(list(sentinels), token) for node in nodes]
        try:
            answers = ray.get(refs, timeout=STORAGE_CHECK_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError as exc:
            raise XTinyError(f"the shared-storage check got no answer from the Ray nodes in {STORAGE_CHECK_TIMEOUT_S}"
                             " s.", fix="check the cluster with `ray status` and rerun.") from exc
    finally:
        for path in sentinels:
            Path(path).unlink(missing_ok=True)
    for node, problems in zip(nodes, answers, strict=True):
        if problems:
            path, why = problems[0]
            var = sentinels[path]
            raise XTinyError(f"Ray node {node_label(node)} cannot see {var} = {Path(path).parent}: {why}.",
                             fix=_STORAGE_FIX)


@contextmanager
def ray_connection(options: RayOptions, *, jobs: int, device: str) -> Iterator[RaySetup]:
    """Connect to Ray (see the module doc), check resources and shared storage, yield the :class:`RaySetup`;
    disconnect on exit when this call connected. Every check raises XTinyError before any job starts."""
    cpus, gpus = per_job_resources(options, device)
    ray = require_ray()
    address = cluster_address(options.address)
    named_by = "--ray-address" if options.address else RAY_ADDRESS_ENV
    connected = _init_ray(ray, address, named_by, jobs, cpus)
    try:
        nodes = job_nodes(ray.nodes(), cpus, gpus)
        env_vars = job_environment()
        check_shared_storage(ray, nodes, env_vars)
        yield RaySetup(address, cpus, gpus, nodes, env_vars)
    finally:
        if connected:
            ray.shutdown()


def run_on_ray_worker(train: Callable[[dict[str, Any]], dict[str, Any]], job: dict[str, Any]) -> dict[str, Any]:
    """Inside a Ray task: run ``train(job)`` with the threads of the CPUs Ray assigned and on the GPU it assigned
    (Ray's ``CUDA_VISIBLE_DEVICES`` shows only that one: ``cuda:0``); the row gets ``ray`` placement facts."""
    import ray

    from xtiny.training.backends.threads import job_thread_budget

    context = ray.get_runtime_context()
    cpus = context.get_assigned_resources().get("CPU", 1.0)
    gpu_ids = [str(g) for g in ray.get_gpu_ids()]
    job = dict(job)
    on_cuda = str(job["spec"].device).startswith("cuda")
    if gpu_ids and on_cuda:
        job["spec"] = replace(job["spec"], device="cuda:0")
    with job_thread_budget(cpus, "cuda" if on_cuda else "cpu"):
        out = train(job)
    placement = {"node_id": context.get_node_id(), "host": socket.gethostname(), "pid": os.getpid(), "cpus": cpus,
                 "gpu_ids": gpu_ids}
    for row in out if isinstance(out, list) else [out]:
        row["ray"] = placement
    return out


def failed_rows(job: dict[str, Any], error: BaseException) -> list[dict[str, Any]]:
    """The rows of a job that failed after its retry, one per configuration it trains (a family run's
    ``configurations``, else its ``configuration``): ``failed`` and the error in one line."""
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip().splitlines()
    message = f"{type(cause).__name__}: {text[-1] if text else ''}".strip()
    return [{"configuration": c, "failed": True, "error": message[:2000], "params": None, "dice": None,
             "train_seconds": None, "logged_seconds": None, "device": job["spec"].device, "skipped_finished": False}
            for c in (job.get("configurations") or [job["configuration"]])]


def run_ray_jobs(setup: RaySetup, train: Callable[[dict[str, Any]], dict[str, Any]],
                 jobs: list[dict[str, Any]], on_row: Callable[[dict[str, Any]], None] | None = None
                 ) -> list[dict[str, Any]]:
    """Run ``train`` over ``jobs`` on Ray (one retry each); rows in the order jobs finish, failed ones as
    :func:`failed_rows`. ``on_row`` sees each row as it arrives. Ctrl-C cancels the unfinished jobs."""
    ray = require_ray()
    remote = ray.remote(run_on_ray_worker).options(
        num_cpus=setup.cpus_per_job, num_gpus=setup.gpus_per_job, max_retries=JOB_RETRIES, retry_exceptions=True,
        runtime_env={"env_vars": setup.env_vars})
    by_ref = {remote.remote(train, job): job for job in jobs}
    pending, rows = list(by_ref), []
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    out = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    out = failed_rows(by_ref[ref], exc)
                for row in out if isinstance(out, list) else [out]:
                    rows.append(row)
                    if on_row is not None:
                        on_row(row)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return rows
