"""A quiet terminal for long jobs: everything the libraries print goes to a log file (file-descriptor level, so
worker processes are caught too), while XTiny's own stage lines and progress bars still reach the terminal.

``quiet_output(log_path)`` redirects fd 1 and 2 into ``log_path``; :func:`say` and :func:`progress_bar` write to the
terminal saved before the redirection, :func:`log_line` into the log (a stage's details). ``epoch_done(epoch, total,
note)`` is what trainers call after each epoch: it advances the active bar, or prints one line when no bar is active
(the verbose, un-redirected mode). Nothing in XTiny but the command line calls ``print``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

_terminal: list[tuple[TextIO, TextIO]] = []  # (stdout, stderr) of the terminal saved by quiet_output, innermost last
_bars: list[Any] = []  # stack of active epoch bars


def terminal(errors: bool = False) -> TextIO:
    """The terminal's stdout (``errors``: its stderr, where progress bars go), also while output is redirected."""
    if _terminal:
        return _terminal[-1][1 if errors else 0]
    return sys.stderr if errors else sys.stdout


def say(line: str, *, errors: bool = False) -> None:
    """One line on the terminal's stdout (``errors``: its stderr, for notices that must stay out of what a command
    writes, e.g. ``eval "$(xtiny env)"``); never into the redirected log."""
    stream = terminal(errors)
    stream.write(line + "\n")
    stream.flush()


def log_line(line: str) -> None:
    """One line of detail for the running stage's log: stdout as it is now, which :func:`quiet_output` sends to
    ``xtiny/logs/<stage>.log`` (the terminal when nothing is redirected)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def quiet_output(log_path: str | os.PathLike | None) -> Iterator[Path | None]:
    """Send fd 1/2 (Python prints, warnings, C libraries, child processes) to ``log_path`` (appended); ``None`` = no
    redirection (verbose)."""
    if log_path is None:
        yield None
        return
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    streams = (os.fdopen(os.dup(saved_out), "w", buffering=1), os.fdopen(os.dup(saved_err), "w", buffering=1))
    with open(path, "a", buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        _terminal.append(streams)
        try:
            yield path
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            _terminal.pop()
            for stream in streams:
                stream.close()


@contextlib.contextmanager
def progress_bar(total: int, description: str, unit: str = "epoch") -> Iterator[Any]:
    """A tqdm bar on the terminal with its ETA; trainers advance it through :func:`epoch_done`."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=description, unit=unit, file=terminal(errors=True), dynamic_ncols=True, leave=False,
               mininterval=1.0)
    _bars.append(bar)
    try:
        yield bar
    finally:
        _bars.pop()
        bar.close()


def epoch_done(epoch: int, total: int, note: str = "") -> None:
    """Called by trainers after each epoch: advances the active bar (with ``note``), else prints one line."""
    if _bars:
        bar = _bars[-1]
        bar.set_postfix_str(note, refresh=False)
        bar.update(max(0, epoch - bar.n))
    else:
        log_line(f"[xtiny] epoch {epoch}/{total}{': ' + note if note else ''}")
