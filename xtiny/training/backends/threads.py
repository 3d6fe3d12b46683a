"""CPU thread budget for training: split the cores between augmentation workers and torch.

nnU-Net starts min(12, cores) augmentation worker processes and torch uses every core in the main process;
on a 2-core machine the oversubscribed OpenMP threads made a 40-iteration epoch of the cap-8 net 9x slower
(34.7 s vs 3.9 s with 1 worker and 1 torch thread, measured on this project's 2-core CI machine).
Variables the user set are respected. A job of an executor that was given fewer CPUs than the machine has (a Ray
job, :func:`job_thread_budget`) splits only those: :data:`JOB_CPUS_ENV` holds its count while it runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

JOB_CPUS_ENV = "XTINY_JOB_CPUS"


def available_cores() -> int:
    """The CPUs this process may use: :data:`JOB_CPUS_ENV` while a job of an executor runs, else all cores."""
    given = os.environ.get(JOB_CPUS_ENV)
    return max(1, int(float(given))) if given else (os.cpu_count() or 1)


@contextmanager
def _environment(values: dict[str, str], *, only_unset: tuple[str, ...] = ()) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` (those named in ``only_unset`` only where unset); restore on exit."""
    saved = {k: os.environ.get(k) for k in values}
    for key, value in values.items():
        if key in only_unset:
            os.environ.setdefault(key, value)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def cpu_thread_budget(device_type: str) -> Iterator[None]:
    """On CPU: ``nnUNet_n_proc_DA`` = cores // 2 (if unset), 1 OpenMP thread per worker, the rest to torch
    (cores: :func:`available_cores`)."""
    if device_type != "cpu":
        yield
        return
    import torch

    cores = available_cores()
    defaults = {"nnUNet_n_proc_DA": str(max(1, cores // 2)),
                "OMP_NUM_THREADS": "1"}  # read by the spawned augmentation workers
    with _environment(defaults, only_unset=tuple(defaults)):
        workers = int(os.environ["nnUNet_n_proc_DA"])
        saved_threads = torch.get_num_threads()
        torch.set_num_threads(max(1, cores - workers))
        try:
            yield
        finally:
            torch.set_num_threads(saved_threads)


@contextmanager
def job_thread_budget(cpus: float, device_type: str) -> Iterator[None]:
    """Threads of one executor job that was given ``cpus`` CPUs: :data:`JOB_CPUS_ENV` (so :func:`cpu_thread_budget`
    splits only those), nnU-Net's final-validation processes (``nnUNet_def_n_proc``) = cpus and torch threads =
    cpus. On a GPU, ``nnUNet_n_proc_DA`` = cpus - 1 (if unset; 0 runs augmentation in the main process) and 1
    torch thread, since the GPU does the arithmetic."""
    import torch

    count = max(1, int(cpus))
    values = {JOB_CPUS_ENV: str(count), "nnUNet_def_n_proc": str(count)}
    if device_type != "cpu":
        values["nnUNet_n_proc_DA"] = str(count - 1)
    saved_threads = torch.get_num_threads()
    with _environment(values, only_unset=("nnUNet_n_proc_DA",)):
        torch.set_num_threads(1 if device_type != "cpu" else count)
        try:
            yield
        finally:
            torch.set_num_threads(saved_threads)
