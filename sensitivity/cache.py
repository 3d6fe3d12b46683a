"""On-disk score cache: one small JSON file per (candidate, seed, inputs, proxy, device kind, probe version).

The key hashes the candidate's *resolved* plans configuration (so editing the plans invalidates it), the
network's input/output channel counts, the seed, the exact input image bytes and case ids, the proxy name,
the device type and :data:`PROBE_VERSION`. Files live in ``xtiny_dir(dataset)/cache`` and are written
atomically, so an interrupted search resumes where it stopped. Floats round-trip exactly through JSON.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from xtiny.atomic import atomic_write_json

PROBE_VERSION = 2  # 2: InstanceNorm computed as GroupNorm; CUDA convolutions in fp32 (no TF32)


def cache_dir(dataset_name: str) -> Path:
    from xtiny.artifacts import xtiny_dir

    path = xtiny_dir(dataset_name) / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(**parts: Any) -> str:
    """Stable sha256 of the JSON-serialized key parts (plus the probe version)."""
    text = json.dumps({"probe_version": PROBE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class ScoreCache:
    """Get/put JSON records by key under ``folder``."""

    def __init__(self, folder: Path, enabled: bool = True) -> None:
        self.folder = Path(folder)
        self.enabled = enabled

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if not self.enabled:
            return None
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None  # a damaged entry is recomputed

    def put(self, key: str, record: dict) -> None:
        if self.enabled:
            atomic_write_json(self._path(key), record)
