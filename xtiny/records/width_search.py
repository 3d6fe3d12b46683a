"""The width search's record, ``search_<base>.json`` (:func:`xtiny.search.run_search` writes it; confirm, sweep,
``train -c auto``, the report and the demo read it). Fields and their JSON keys: :class:`SearchRecord`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xtiny.records.typed_json import JsonRecord, items, optional, read_typed_record, write_typed_record

SEARCH_SCHEMA_VERSION = 1


@dataclass(kw_only=True)
class SearchRecord(JsonRecord):
    """One width search: the pick (``chosen``, the configuration to train) and how it was found. ``candidates`` are
    the family widest first (name, cap, params, score, normalized, selected, ...); ``search_json``/``search_png``
    are absent when the search was not written."""

    schema_version: int = SEARCH_SCHEMA_VERSION
    dataset: str
    base_configuration: str
    chosen: str
    chosen_cap: int
    rule: str
    knee: dict[str, Any]
    picks_by_rule: dict[str, str]
    picks_by_proxy: dict[str, str | None]
    k: int
    seeds: list[int]
    device: str
    proxies: list[str]
    sampling: dict[str, Any]
    inputs: dict[str, Any]
    plans_file: str
    candidates: list[dict[str, Any]] = items(name=str, cap=int, params=int, score=float | None, normalized=float,
                                             selected=bool)
    macs_note: str
    timings: dict[str, float]
    versions: dict[str, Any]
    warning: str | None = optional()
    init: str | None = optional()  # "nested in <widest>" or "independent"; absent: written before nested init
    search_json: str | None = optional()
    search_png: str | None = optional()


def rerun_search_fix(path: Path) -> str:
    """The fix for a bad ``<results>/<Dataset>/xtiny/search_<base>.json``: rerun the search that writes it."""
    path = Path(path)
    base = path.stem.removeprefix("search_")
    return f"rerun `xtiny search -d {path.parent.parent.name} -c {base}` (it rewrites {path.name}; scores are cached)."


def write_search_record(path: Path, record: SearchRecord) -> Path:
    """Write ``record`` to ``path`` atomically (checked first: a record the reader would refuse is a bug)."""
    return write_typed_record(path, record)


def read_search_record(path: Path) -> SearchRecord:
    """The search record in ``path``. XTinyError naming the file, what is wrong and the fix (rerun the search) when it
    is missing, truncated, of another ``schema_version`` or hand-edited (a missing, unknown or ill-typed field). A
    file without ``schema_version`` (written by an xtiny before typed records) is read as version 0 when complete."""
    return read_typed_record(path, SearchRecord, what="width search record", fix=rerun_search_fix(path))
