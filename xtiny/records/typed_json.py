"""A record class is a dataclass subclassing :class:`JsonRecord`: its fields are the keys of its JSON object, in
order, with plain JSON types (``str``, ``int``, ``float``, ``bool``, ``None``, ``list[...]``, ``dict[str, ...]``,
unions, ``Any``), and its first field is ``schema_version: int`` with the current version as default.

:func:`write_typed_record` checks a record against its annotations and writes it atomically;
:func:`read_typed_record` reads one back and refuses (``XTinyError`` naming the file, what is wrong and the fix) a
file that is not valid JSON (truncated), another ``schema_version``, or a missing, unknown or ill-typed field
(hand-edited). A file without ``schema_version`` (written before records were typed) is read as version 0 when every
field is present and well typed. Field metadata: ``optional()`` (key left out of the file while None) and
``items(**keys)`` (each item of a list or dict field is an object with these keys of these types)."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from xtiny.atomic import atomic_write_json
from xtiny.errors import XTinyError

LEGACY_SCHEMA_VERSION = 0  # a file without "schema_version": written before records were typed
R = TypeVar("R", bound="JsonRecord")


class JsonRecord:
    """Base of the typed records (dataclasses): :meth:`to_json` gives the file's JSON object."""

    def to_json(self) -> dict[str, Any]:
        """The record as its JSON object: every field in order, optional ones left out while None."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if not (f.metadata.get("optional") and getattr(self, f.name) is None)}


def optional() -> Any:
    """A field whose key is absent from the file while it is None (default None)."""
    return dataclasses.field(default=None, metadata={"optional": True})


def items(**keys: Any) -> Any:
    """A required list or dict field whose items are objects holding ``keys`` with these types."""
    return dataclasses.field(metadata={"items": keys})


def _kind(value: Any) -> str:
    """What a JSON value is, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _expected(hint: Any) -> str:
    """A type annotation in words."""
    if hint is Any:
        return "anything"
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_expected(a) for a in typing.get_args(hint))
    origin = typing.get_origin(hint) or hint
    return {str: "a string", int: "a whole number", float: "a number", bool: "true/false", type(None): "null",
            list: "a list", dict: "an object"}.get(origin, str(hint))


def type_problem(value: Any, hint: Any, where: str) -> str | None:
    """Why ``value`` (parsed JSON) does not fit the annotation ``hint``, naming ``where`` it is; None when it fits."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return None
    if origin in (typing.Union, types.UnionType):
        if any(type_problem(value, a, where) is None for a in args):
            return None
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return None
    elif hint in (str, bool, type(None)):
        if isinstance(value, hint):
            return None
    elif origin is list and isinstance(value, list):
        return next((p for i, v in enumerate(value) if (p := type_problem(v, args[0], f"{where}[{i}]"))), None)
    elif origin is dict and isinstance(value, dict):
        return next((p for k, v in value.items() if (p := type_problem(v, args[1], f"{where}[{k!r}]"))), None)
    return f"{where} is {_kind(value)}, not {_expected(hint)}"


def _items_problem(value: list | dict, keys: dict[str, Any], where: str) -> str | None:
    """Why an item of ``value`` lacks one of ``keys`` or holds it ill-typed; None when every item fits."""
    pairs = enumerate(value) if isinstance(value, list) else value.items()
    for index, item in pairs:
        at = f"{where}[{index!r}]"
        if not isinstance(item, dict):
            return f"{at} is {_kind(item)}, not an object"
        for key, hint in keys.items():
            if key not in item:
                return f"{at} has no key '{key}'"
            if problem := type_problem(item[key], hint, f"{at}['{key}']"):
                return problem
    return None


def record_problem(cls: type[JsonRecord], data: Any) -> str | None:
    """Why ``data`` is not a valid JSON object of the record class ``cls`` at its current schema version (or a
    complete version-0 one, without ``schema_version``); None when it is."""
    if not isinstance(data, dict):
        return f"holds {_kind(data)}, not a JSON object"
    fields = {f.name: f for f in dataclasses.fields(cls)}
    current = current_schema_version(cls)
    version = data.get("schema_version", current)  # absent: version 0, read when complete
    if type(version) is not int or version != current:
        return f"has schema_version {json.dumps(version)}; this xtiny reads version {current}"
    unknown = [k for k in data if k not in fields]
    if unknown:
        return f"has an unknown field '{unknown[0]}'"
    hints = typing.get_type_hints(cls)
    for name, f in fields.items():
        if name == "schema_version":
            continue
        if name not in data:
            if f.metadata.get("optional"):
                continue
            return f"has no field '{name}'"
        if problem := type_problem(data[name], hints[name], f"field '{name}'"):
            return problem
        keys = f.metadata.get("items")
        if keys and (problem := _items_problem(data[name], keys, f"field '{name}'")):
            return problem
    return None


def current_schema_version(cls: type[JsonRecord]) -> int:
    """The schema version ``cls`` writes (its ``schema_version`` field's default)."""
    return next(f.default for f in dataclasses.fields(cls) if f.name == "schema_version")


def write_typed_record(path: Path, record: JsonRecord) -> Path:
    """Check ``record`` against its annotations (ValueError: a bug, never the user's) and write it atomically."""
    data = record.to_json()
    if data["schema_version"] != current_schema_version(type(record)):
        raise ValueError(f"{type(record).__name__} writes only its current schema_version, not "
                         f"{data['schema_version']}.")
    problem = record_problem(type(record), data)
    if problem:
        raise ValueError(f"{type(record).__name__} for {path} {problem}.")
    return atomic_write_json(path, data)


def read_typed_record(path: Path, cls: type[R], *, what: str, fix: str) -> R:
    """The record of class ``cls`` in ``path``; XTinyError (``what`` and ``path`` named, with ``fix``) when the file is
    missing, not valid JSON, of another schema version, or has a missing, unknown or ill-typed field."""
    path = Path(path)
    if not path.is_file():
        raise XTinyError(f"{what} {path} does not exist.", fix=fix)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise XTinyError(f"{what} {path} is not valid JSON (truncated?): {exc}.", fix=fix) from exc
    problem = record_problem(cls, data)
    if problem:
        raise XTinyError(f"{what} {path} {problem}.", fix=fix)
    return cls(**{"schema_version": LEGACY_SCHEMA_VERSION, **data})
