"""One registry mechanism for every name → thing table of XTiny (models, dataset converters, synthetic kinds,
sensitivity proxies, knee rules, export formats), as timm registers its models.

``register(name)`` is a decorator (or, with a value, a plain call) that refuses a name twice; ``get(name)`` (also
``registry[name]``) raises :class:`~xtiny.errors.XTinyError` listing the known names; ``names()`` in registration
order. A registry iterates over its names, so ``name in registry``, ``list(registry)`` and ``", ".join(registry)``
work as on a dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from xtiny.errors import XTinyError

T = TypeVar("T")
_NO_VALUE = object()


class Registry(Generic[T]):
    """Names of one ``kind`` (e.g. ``"knee rule"``) → registered things; ``hint`` ends the unknown-name fix."""

    def __init__(self, kind: str, items: Iterable[tuple[str, T]] = (), *, hint: str = "") -> None:
        self.kind, self.hint = kind, hint
        self._entries: dict[str, T] = {}
        for name, value in items:
            self.register(name, value)

    def register(self, name: str, value=_NO_VALUE):
        """``@registry.register("name")`` above a function or class, or ``registry.register("name", value)``;
        ValueError when ``name`` is already registered (a programming error, never user input)."""
        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice.")
            self._entries[name] = obj
            return obj

        return add if value is _NO_VALUE else add(value)

    def get(self, name: str) -> T:
        """The thing registered as ``name``; XTinyError naming the known ones otherwise."""
        if name not in self._entries:
            raise XTinyError(f"unknown {self.kind} '{name}'.",
                             fix=f"use one of: {', '.join(self._entries)}{self.hint}.")
        return self._entries[name]

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, thing)`` pairs, in registration order."""
        return list(self._entries.items())

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
