"""Explicit name -> builder registries (timm style), shared by datasets and models."""
from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from core.validation import unknown_name

T = TypeVar("T", bound=Callable[..., Any])


@dataclass
class Entry(Generic[T]):
    name: str
    fn: T
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, *, aliases: tuple[str, ...] = (), **meta: Any) -> Callable[[T], T]:
        """Decorator: ``@registry.register("seed_b_cnn5", family="zoo")``.

        ``aliases`` keep old names working after a rename (stored runs refer to names).
        """

        def deco(fn: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, fn, dict(meta))
            for a in aliases:
                self._aliases[a] = name
            return fn

        return deco

    def unregister(self, name: str) -> None:
        """Forget ``name`` and its aliases (an entry found on disk whose files went away)."""
        self._entries.pop(name, None)
        self._aliases = {a: n for a, n in self._aliases.items() if n != name}

    def resolve(self, name: str) -> str:
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise unknown_name(self.kind, name, self._entries)

    def get(self, name: str) -> Entry[T]:
        return self._entries[self.resolve(name)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def names(self, filter: str | None = None, **meta: Any) -> list[str]:
        """Sorted names, optionally matching a glob ``filter`` and meta values."""
        out = []
        for n, e in self._entries.items():
            if filter and not fnmatch.fnmatch(n, filter):
                continue
            if any(e.meta.get(k) != v for k, v in meta.items()):
                continue
            out.append(n)
        return sorted(out)
