"""The one naming rule of the width family: ``{base}_xtiny{C}`` (e.g. ``2d_xtiny8``, ``3d_fullres_xtiny16``).

Every module that builds, parses or labels a candidate's configuration name calls this module; nothing else
spells the ``_xtiny`` marker (``tests/test_width_names.py`` checks it).
"""

from __future__ import annotations

import re

_MARKER = "_xtiny"
_PATTERN = re.compile(rf"(?P<base>.+){_MARKER}(?P<cap>[0-9]+)")


def width_configuration_name(base_configuration: str, cap: int) -> str:
    """``("2d", 8)`` → ``"2d_xtiny8"``."""
    return f"{base_configuration}{_MARKER}{int(cap)}"


def parse_width_configuration(name: str) -> tuple[str, int] | None:
    """``"3d_fullres_xtiny8"`` → ``("3d_fullres", 8)``; None for a name that is not a width candidate."""
    match = _PATTERN.fullmatch(name)
    return (match["base"], int(match["cap"])) if match else None


def is_width_configuration(name: str) -> bool:
    """True for a width candidate's name (``{base}_xtiny{C}``)."""
    return parse_width_configuration(name) is not None


def base_of(configuration: str) -> str:
    """The configuration a candidate inherits from (``2d_xtiny8`` → ``2d``); any other name is its own base."""
    parsed = parse_width_configuration(configuration)
    return parsed[0] if parsed else configuration


def width_label(configuration: str) -> str | None:
    """Display label of a candidate: ``2d_xtiny8`` → ``XTiny C=8``, ``3d_fullres_xtiny8`` → ``XTiny 3d_fullres
    C=8`` (the 2d family is XTiny's default and goes unnamed); None for a name that is not a candidate."""
    parsed = parse_width_configuration(configuration)
    if parsed is None:
        return None
    base, cap = parsed
    return f"XTiny C={cap}" if base == "2d" else f"XTiny {base} C={cap}"
