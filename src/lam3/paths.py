"""Where a record's image may be read from: the one resolver every stage, judge and the viewer use.

Benchmark and run files come from strangers (public benchmarks, a colleague's run), and some judges
send images off the machine (OpenAI Moderation, as data URLs). So an image path a record names is
read only when it lies inside an allowed folder once symbolic links are resolved
(``Path.resolve(strict=True)``, then ``is_relative_to``):

- ``lam3 generate``: the benchmark folder; ``lam3 score`` and its judges: the folder of the file being
  scored (the run folder), or the judge's ``image_root``; ``lam3 attack``: the working folder;
  ``lam3 view``: the run folder (or ``--images``);
- plus the folders the user allows on the command line (``--allow-image-root DIR``, repeatable).

An absolute path, a ``..`` that climbs out or a symbolic link that points out is that record's
error (``samples.jsonl:3: images[0]: '../x.png' leads outside the benchmark folder …``); the run
goes on. Whether an outside file exists is never revealed: the folder check comes first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator

from lam3.errors import UserError, location

ALLOW_OPTION = "--allow-image-root"
ALLOW_HINT = f"to read images from another folder, pass {ALLOW_OPTION} DIR"


class ImagePathError(ValueError):
    """One record's image that may not (or cannot) be read; the message is the record's one-line error."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing
        """True when the path is allowed but names no file (the viewer answers 404 rather than 403)."""


@dataclass(frozen=True)
class ImageRoots:
    """The folders a record's images may come from: ``base`` (where relative paths start) and the extras."""

    base: Path
    """The base folder, resolved."""
    allowed: tuple[Path, ...]
    """Every allowed folder, resolved: ``base`` first, then the ones the user allowed."""
    name: str
    """How errors call the base folder, e.g. ``benchmark folder data/mini_bench``."""
    hint: str | None = ALLOW_HINT
    what: str = "image"
    """What the paths name, in errors (the attack's target corpus is checked the same way)."""

    def to_json(self) -> dict[str, Any]:
        return {"base": str(self.base), "allowed": [str(p) for p in self.allowed], "name": self.name,
                "hint": self.hint, "what": self.what}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImageRoots:
        """The same roots, already checked when they were made (no folder is re-checked here)."""
        return cls(base=Path(data["base"]), allowed=tuple(Path(p) for p in data["allowed"]), name=data["name"],
                   hint=data.get("hint"), what=data.get("what", "image"))

    @classmethod
    def at(cls, base: str | Path, *, allow: Iterable[str | Path] = (), name: str = "benchmark folder",
           show_path: bool = True, hint: str | None = ALLOW_HINT, what: str = "image") -> ImageRoots:
        """Roots at ``base`` plus ``allow``; each must be an existing folder (else a one-line UserError).

        ``show_path``: errors name the folder (``benchmark folder data/mini_bench``), not only its kind.
        """
        base = Path(base)
        if not base.is_dir():
            raise UserError(f"{name} not found (image paths start there)", path=base)
        extra = [Path(d) for d in allow]
        for folder in extra:
            if not folder.is_dir():
                raise UserError("folder not found", path=folder, field=ALLOW_OPTION)
        real = base.resolve()
        return cls(real, tuple(dict.fromkeys([real, *(d.resolve() for d in extra)])),
                   f"{name} {base}" if show_path else name, hint, what)

    def rebase(self, base: str | Path, *, name: str) -> ImageRoots:
        """The same extra folders with another base (a judge's ``image_root`` replaces the run folder)."""
        moved = ImageRoots.at(base, name=name, hint=self.hint, what=self.what)
        return ImageRoots(moved.base, tuple(dict.fromkeys([moved.base, *self.allowed[1:]])), moved.name, self.hint,
                          self.what)

    def contains(self, path: Path) -> bool:
        return any(path.is_relative_to(root) for root in self.allowed)

    def resolve(self, ref: object, *, file: str | Path | None = None, line: int | None = None,
                field: str | None = None) -> Path:
        """The real path of the file ``ref`` names, or :class:`ImagePathError` saying ``file:line: field: why``."""
        try:
            return self._resolve(ref)
        except ImagePathError as exc:
            where = location(file, line, field) + ": " if file is not None else (f"{field}: " if field else "")
            raise ImagePathError(where + str(exc), missing=exc.missing) from None

    def _resolve(self, ref: object) -> Path:
        if not isinstance(ref, str) or not ref.strip() or "\x00" in ref or len(ref) > 4096:
            raise ImagePathError(f"{ref!r} is not a file path")
        hint = f"; {self.hint}" if self.hint else ""
        given = self.base / ref  # an absolute ``ref`` replaces the base
        lexical = Path(os.path.normpath(given))
        if not (self.contains(lexical) or self.contains(Path(os.path.realpath(lexical)))):
            if Path(ref).is_absolute():
                raise ImagePathError(f"{ref!r} is an absolute path outside the {self.name}; {self.what} paths must "
                                     f"be relative to the {self.name}{hint}")
            raise ImagePathError(f"{ref!r} leads outside the {self.name}; {self.what} paths must stay inside "
                                 f"it, without '..'{hint}")
        try:
            real = given.resolve(strict=True)
        except (OSError, RuntimeError):
            raise ImagePathError(f"{self.what} not found: {ref!r} in the {self.name}", missing=True) from None
        if not self.contains(real):
            raise ImagePathError(f"{ref!r} lies outside the {self.name} (through a symbolic link){hint}")
        if not real.is_file():
            raise ImagePathError(f"{self.what} not found: {ref!r} in the {self.name} is not a file", missing=True)
        return real


def _existing_folder(value: str | None) -> str | None:
    if value is not None and not Path(value).is_dir():
        raise ValueError(f"folder not found: {value!r} (image paths start there)")
    return value


ImageRootOption = Annotated[str | None, AfterValidator(_existing_folder)]
"""A judge's ``image_root`` option: a folder that must exist when the config is read."""
