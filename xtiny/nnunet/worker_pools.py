"""nnU-Net's worker pools, started as forks of one preloaded server instead of fresh interpreters.

nnU-Net opens a ``multiprocessing.get_context("spawn")`` pool for each step that fans out: the dataset check, the
fingerprint, each configuration's preprocessing, and, after every training, the export of the validation
segmentations and their metrics. A spawned worker is a new interpreter that imports torch and nnU-Net again before it
does anything: about 5 s per pool on a 2-core machine, while the work itself on a small dataset takes well under a
second. Inside :func:`preloaded_worker_pools` those pools come from Python's ``forkserver`` instead. The server
imports torch and nnU-Net once, with the environment of the moment it starts, and every worker is a fork of it. The
workers receive the same pickled tasks as spawned ones and never inherit the parent's threads, CUDA context or open
files. The server is stopped when the outermost block ends, so the next block starts one with the environment of
its own time. Where ``forkserver`` does not exist (Windows), nothing changes.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
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
)

_lock = threading.Lock()
_depth = 0
_original_get_context = multiprocessing.get_context


def _forkserver_for_spawn(method: str | None = None) -> multiprocessing.context.BaseContext:
    return _original_get_context("forkserver" if method == "spawn" else method)


def forkserver_available() -> bool:
    """Whether this platform has Python's ``forkserver`` start method (Linux and macOS; not Windows)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


@contextmanager
def preloaded_worker_pools() -> Iterator[None]:
    """Within the block, nnU-Net's ``spawn`` pools are served by one preloaded ``forkserver``; blocks may nest."""
    global _depth
    if not forkserver_available():
        yield
        return
    with _lock:
        if _depth == 0:
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
                multiprocessing.forkserver._forkserver._stop()
