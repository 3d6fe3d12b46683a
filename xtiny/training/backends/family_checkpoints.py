"""One atomic step for the checkpoints of a family run: every network's checkpoint of an epoch, or none.

Each network writes its checkpoint to a temp file beside the real one (:meth:`CheckpointJournal.stage`). Then
:meth:`CheckpointJournal.commit` writes a journal (atomically) naming every pending rename, does the renames and
removes the journal. A run killed before the journal exists leaves only temp files, which the next run removes; a
run killed during the renames leaves the journal, and the next run completes them (:func:`recover_journal`). So
after any kill, the networks' checkpoints are all of one epoch.
"""

from __future__ import annotations

import os
from pathlib import Path

from xtiny.atomic import atomic_write_json, read_json

PENDING_SUFFIX = ".family-pending"


class CheckpointJournal:
    """Pending checkpoint writes of one family run; ``path`` is the journal file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.pending: list[tuple[str, str]] = []

    def stage(self, filename: str | os.PathLike) -> str:
        """The temp path to write ``filename``'s new content to; it replaces ``filename`` at :meth:`commit`."""
        temp = f"{filename}{PENDING_SUFFIX}"
        self.pending.append((temp, str(filename)))
        return temp

    def commit(self) -> None:
        """Replace every staged checkpoint, as one step that a kill cannot split."""
        if not self.pending:
            return
        done = [(temp, final) for temp, final in self.pending if os.path.exists(temp)]
        atomic_write_json(self.path, {"renames": done})
        _apply(done)
        self.path.unlink(missing_ok=True)
        self.pending = []


def _apply(renames: list[tuple[str, str]]) -> None:
    for temp, final in renames:
        if os.path.exists(temp):
            os.replace(temp, final)


def recover_journal(path: Path, fold_folders: list[Path]) -> str:
    """Before a family run: finish the renames of a journal left by a killed run, and remove temp checkpoints that no
    journal names (their epoch was never committed). Returns what it did, for the log."""
    done = ""
    if Path(path).is_file():
        renames = [tuple(r) for r in read_json(path, "family checkpoint journal").get("renames", [])]
        _apply(renames)
        Path(path).unlink()
        done = f"completed {len(renames)} checkpoint renames of an interrupted family run"
    stray = [p for folder in fold_folders if folder.is_dir() for p in folder.glob(f"*{PENDING_SUFFIX}")]
    for p in stray:
        p.unlink()
    if stray:
        done += ("; " if done else "") + f"removed {len(stray)} uncommitted checkpoint files"
    return done
