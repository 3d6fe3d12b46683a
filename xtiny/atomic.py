"""Atomic file writes: temp file in the same folder, fsync, rename. A crash never leaves half a file."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, backup: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; with ``backup`` keep the previous file as ``path.bak``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _default_mode(path))
        if backup and path.exists():
            shutil.copy2(path, path.with_name(path.name + ".bak"))
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            from xtiny.errors import XTinyError

            raise XTinyError(f"no space left on device while writing {path}; the previous file is unchanged.",
                             fix="free disk space (or set nnUNet_results/nnUNet_preprocessed elsewhere) and "
                                 "rerun the same command.") from exc
        raise
    return path


def _default_mode(path: Path) -> int:
    """Keep an existing file's permissions; new files get 0o666 minus the umask (mkstemp would give 0o600)."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: str | os.PathLike, text: str, *, backup: bool = False) -> Path:
    """Write text (UTF-8) atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), backup=backup)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, backup: bool = False, indent: int = 2) -> Path:
    """Serialize ``obj`` first (so a serialization error writes nothing), then write atomically."""
    text = json.dumps(obj, indent=indent, sort_keys=False, allow_nan=False) + "\n"
    return atomic_write_text(path, text, backup=backup)


def read_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Read JSON with a clear XTinyError on a missing or broken file."""
    from xtiny.errors import XTinyError

    path = Path(path)
    if not path.is_file():
        raise XTinyError(f"{what} not found: {path}.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise XTinyError(
            f"{what} {path} is not valid JSON ({exc}).",
            fix=f"restore it from {path}.bak if present, or regenerate it.",
        ) from exc


def _old_name(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.old")


def recover_tree(dest: str | os.PathLike) -> None:
    """Undo a swap that ``replace_tree`` could not finish (old folder moved aside, new one not yet in place)."""
    dest = Path(dest)
    old = _old_name(dest)
    if old.exists():
        if dest.exists():
            shutil.rmtree(old)
        else:
            os.replace(old, dest)


def replace_tree(new: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Put the finished folder (or file) ``new`` at ``dest``, replacing what was there, by two renames on the same
    filesystem: at every moment ``dest`` is the complete old or the complete new one (or, between the renames,
    absent with the old one kept aside for :func:`recover_tree`)."""
    new, dest = Path(new), Path(dest)
    recover_tree(dest)
    old = _old_name(dest)
    if dest.exists():
        os.replace(dest, old)
    os.replace(new, dest)
    if old.is_dir():
        shutil.rmtree(old)
    elif old.exists():
        old.unlink()
    return dest
