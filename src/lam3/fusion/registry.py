"""Named, pluggable functions: the registry behind :func:`lam3.fusion.strategy` and :func:`lam3.fusion.reducer`.

Why a registry and not string literals in if-chains: the YAML names a strategy or reducer, the
registry resolves the name, and a lab can add its own from its own package without editing
LAM3 (like Inspect AI's ``@score_reducer``). Third-party packages declare an entry point in the
group of the registry (``lam3.strategies`` / ``lam3.reducers``); loading it runs the package's
decorators. Entry points are read once, on the first lookup, so importing fusion stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownName(LookupError):
    """A name no built-in and no installed plugin registered; the message lists the known names."""


class Registry(Generic[T]):
    """name → item, filled by decorators at import and by the entry points of ``group``."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind, self.group = kind, group
        self._items: dict[str, T] = {}
        self._plugins_loaded = False

    def add(self, name: str, item: T) -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} needs a non-empty name")
        if name in self._items:
            raise RuntimeError(f"{self.kind} {name!r} registered twice")
        self._items[name] = item

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.group):
            ep.load()  # importing the object runs its @decorator, which registers it
            if ep.name not in self._items:
                raise RuntimeError(f"entry point {ep.name!r} = {ep.value!r} in group {self.group!r} did not "
                                   f"register a {self.kind} named {ep.name!r}: decorate it with "
                                   f"@lam3.fusion.{self.kind}({ep.name!r})")

    def get(self, name: str) -> T:
        self._load_plugins()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownName(f"unknown {self.kind} {name!r} (known: {', '.join(self.names())})") from None

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
