"""CPU thread budget for nnU-Net training: split the cores between augmentation workers and torch.

nnU-Net starts min(12, cores) augmentation worker processes and torch uses every core in the main process;
on a 2-core machine the oversubscribed OpenMP threads made a 40-iteration epoch of the cap-8 net 9x slower
(34.7 s vs 3.9 s with 1 worker and 1 torch thread, measured on this project's 2-core CI machine).
Variables the user set are respected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cpu_thread_budget(device_type: str) -> Iterator[None]:
    """On CPU: ``nnUNet_n_proc_DA`` = cores // 2 (if unset), 1 OpenMP thread per worker, the rest to torch."""
    if device_type != "cpu":
        yield
        return
    import torch

    cores = os.cpu_count() or 1
    saved_env = {k: os.environ.get(k) for k in ("nnUNet_n_proc_DA", "OMP_NUM_THREADS")}
    os.environ.setdefault("nnUNet_n_proc_DA", str(max(1, cores // 2)))
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # read by the spawned augmentation workers
    workers = int(os.environ["nnUNet_n_proc_DA"])
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, cores - workers))
    try:
        yield
    finally:
        torch.set_num_threads(saved_threads)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
