"""nnU-Net's three folders. Honour nnUNet_raw / nnUNet_preprocessed / nnUNet_results; default to ./xtiny_work.

nnunetv2 (>= 2.8) reads these variables lazily, so :func:`ensure_nnunet_env` may run at any time before
an nnU-Net function is called. The CLI calls it first thing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from xtiny.console import say

ENV_NAMES = {"raw": "nnUNet_raw", "preprocessed": "nnUNet_preprocessed", "results": "nnUNet_results"}
_announced = False


@dataclass(frozen=True)
class NnunetDirs:
    raw: Path
    preprocessed: Path
    results: Path


def ensure_nnunet_env(work_dir: str | os.PathLike | None = None, *, quiet: bool = False) -> NnunetDirs:
    """Set nnU-Net's environment variables that are unset to ``work_dir/{raw,preprocessed,results}``."""
    global _announced
    base = work_base(work_dir)
    defaulted = []
    for key, env in ENV_NAMES.items():
        if not os.environ.get(env):
            os.environ[env] = str(base / key)
            defaulted.append(env)
    # nnU-Net spawns 8 worker processes by default (preprocessing, final validation): wasteful on small machines
    os.environ.setdefault("nnUNet_def_n_proc", str(max(1, min(8, os.cpu_count() or 1))))
    if defaulted and not quiet and not _announced:
        say(f"[xtiny] {', '.join(defaulted)} not set: using {base}/{{raw,preprocessed,results}}", errors=True)
        _announced = True
    dirs = nnunet_dirs()
    for path in (dirs.raw, dirs.preprocessed, dirs.results):
        path.mkdir(parents=True, exist_ok=True)
    return dirs


def work_base(work_dir: str | os.PathLike | None = None) -> Path:
    """XTiny's work folder: ``work_dir``, else ``$XTINY_WORK``, else ``./xtiny_work`` (absolute)."""
    return Path(work_dir or os.environ.get("XTINY_WORK", "xtiny_work")).absolute()


def download_cache_dir() -> Path:
    """Where downloaded source archives are kept (not created): ``$XTINY_CACHE``, else ``<work folder>/cache``.

    Unlike nnU-Net's folders (one per project or test session), this cache is meant to be shared: point
    ``XTINY_CACHE`` at one folder to fetch an archive once per machine.
    """
    return Path(os.environ.get("XTINY_CACHE") or work_base() / "cache").absolute()


def nnunet_dirs() -> NnunetDirs:
    """The folders from the environment (call :func:`ensure_nnunet_env` first)."""
    return NnunetDirs(*(Path(os.environ[ENV_NAMES[k]]) for k in ("raw", "preprocessed", "results")))

