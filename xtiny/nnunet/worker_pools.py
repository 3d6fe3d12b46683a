"""nnU-Net's worker pools, started as forks of one preloaded server instead of fresh interpreters.

nnU-Net opens a ``multiprocessing.get_context("spawn")`` pool for each step that fans out: the dataset check, the
fingerprint, each configuration's preprocessing, and, after every training, the export of the validation
segmentations and their metrics. A spawned worker is a new interpreter that imports torch and nnU-Net again before it
does anything: about 5 s per pool on a 2-core machine, while the work itself on a small dataset takes well under a
second. Inside :func:`preloaded_worker_pools` those pools come from Python's ``forkserver`` instead. The server
imports torch and nnU-Net once, with the environment of the moment it starts, and every worker is a fork of it. The
workers receive the same pickled tasks as spawned ones and never inherit the parent's threads, CUDA context or open
files. The server outlives the block: the next block reuses it while ``os.environ`` is what it was when the server
started (nnU-Net reads its folders from the environment at import), and starts a new one otherwise. Python stops it
when the process exits. Where ``forkserver`` does not exist (Windows), nothing changes.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# What nnU-Net's pool workers import to unpickle their tasks: each module is imported once, in the server.
WORKER_PRELOAD = (
    "torch",
    "nnunetv2.experiment_planning.verify_dataset_integrity",
    "nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor",
    "nnunetv2.preprocessing.preprocessors.default_preprocessor",
    "nnunetv2.inference.export_prediction",
    "nnunetv2.evaluation.evaluate_predictions",
    "xtiny.nnunet.worker_warmup",
)

# Variables that steer the training process only, never a pool worker: a change of them keeps the server.
# XTINY_JOB_CPUS: the CPUs of an executor job, read by xtiny.training.backends.threads in the training process;
# PYTEST_CURRENT_TEST: the test pytest runs (it changes with every test of a session that trains in-process).
PARENT_ONLY_VARIABLES = frozenset({"XTINY_JOB_CPUS", "PYTEST_CURRENT_TEST"})

_lock = threading.Lock()
_depth = 0
_server_environment: dict[str, str] | None = None  # os.environ when the server last started
_original_get_context = multiprocessing.get_context


def _forkserver_for_spawn(method: str | None = None) -> multiprocessing.context.BaseContext:
    global _server_environment
    if method != "spawn":
        return _original_get_context(method)
    if not _server_running():  # the pool about to open starts the server: with the environment of this moment
        _server_environment = _worker_environment()
    return _original_get_context("forkserver")


def _worker_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in PARENT_ONLY_VARIABLES}


def _server_running() -> bool:
    return multiprocessing.forkserver._forkserver._forkserver_pid is not None


def forkserver_available() -> bool:
    """Whether this platform has Python's ``forkserver`` start method (Linux and macOS; not Windows)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


@contextmanager
def preloaded_worker_pools() -> Iterator[None]:
    """Within the block, nnU-Net's ``spawn`` pools are served by one preloaded ``forkserver``; blocks may nest.

    The server is kept for later blocks that see the same environment (see the module's docstring)."""
    global _depth
    if not forkserver_available():
        yield
        return
    with _lock:
        if _depth == 0:
            if _server_running() and _server_environment != _worker_environment():
                multiprocessing.forkserver._forkserver._stop()  # started with another environment
            multiprocessing.set_forkserver_preload(list(WORKER_PRELOAD))
            multiprocessing.get_context = _forkserver_for_spawn
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                multiprocessing.get_context = _original_get_context
