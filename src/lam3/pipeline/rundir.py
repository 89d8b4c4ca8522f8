"""The run directory: one folder per evaluation run that every command understands.

``runs/NAME/`` holds everything a run produced, under fixed names, so that
``pack``, ``pipeline``, ``report`` and the server/local hand-over never need
to be told where a file is::

    runs/NAME/
      manifest.json                 provenance of every stage (lam3.manifest)
      response.jsonl                lam3 generate   (lam3.records.Response)
      <key>_scored.jsonl            lam3 score      (one per judge config, e.g. toxicity_, risk_)
      fused.jsonl                   lam3 fuse       (lam3.records.FusedResult)
      report.html                   lam3 report html
      *.quarantine.jsonl            bad input lines of the stage writing the matching file
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lam3.errors import UserError
from lam3.manifest import MANIFEST, read_manifest

RESPONSES = "response.jsonl"
FUSED = "fused.jsonl"
REPORT_HTML = "report.html"
SCORED_SUFFIX = "_scored.jsonl"
QUARANTINE_SUFFIX = ".quarantine.jsonl"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""A run name is one safe path component (it becomes the top folder inside archives)."""


def check_run_name(name: str) -> str:
    if not _NAME.match(name) or name in {".", ".."}:
        raise UserError(f"invalid run name {name!r}: use letters, digits, '.', '_' or '-' (max 128)")
    return name


def scored_name(key: str) -> str:
    """File name of the scores of the judge config called ``key``: ``toxicity`` → ``toxicity_scored.jsonl``."""
    return check_run_name(key) + SCORED_SUFFIX


@dataclass(frozen=True)
class RunDir:
    """A run directory and the fixed names of its files."""

    path: Path

    @classmethod
    def open(cls, path: str | Path, *, must_exist: bool = True) -> RunDir:
        run = cls(Path(path))
        check_run_name(run.path.resolve().name)
        if must_exist and not run.path.is_dir():
            raise UserError("run directory not found", path=run.path)
        return run

    @property
    def name(self) -> str:
        return self.path.resolve().name

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def responses(self) -> Path:
        return self.path / RESPONSES

    @property
    def fused(self) -> Path:
        return self.path / FUSED

    @property
    def report_html(self) -> Path:
        return self.path / REPORT_HTML

    def scored(self, key: str) -> Path:
        return self.path / scored_name(key)

    def scored_files(self) -> list[Path]:
        """Every ``*_scored.jsonl`` present, sorted by name."""
        return sorted(p for p in self.path.glob("*" + SCORED_SUFFIX) if p.is_file())

    def quarantine_files(self) -> list[Path]:
        return sorted(p for p in self.path.glob("*" + QUARANTINE_SUFFIX) if p.is_file())

    def manifest(self) -> dict:
        return read_manifest(self.path)

    def files(self) -> Iterator[Path]:
        """Every file that belongs to the run (what ``pack`` ships): temp files and hidden files excluded."""
        for p in sorted(self.path.rglob("*")):
            rel = p.relative_to(self.path)
            if any(part.startswith(".") for part in rel.parts) or p.name.endswith(".tmp"):
                continue
            if p.is_symlink():
                raise UserError("run directories may not contain symbolic links (pack refuses them)", path=p)
            if p.is_file():
                yield p


def find_runs(root: str | Path) -> list[RunDir]:
    """Run directories (folders with a manifest.json) directly under ``root``, sorted by name.

    Hidden folders (``.NAME.prev-…`` backups kept by ``unpack --force``) are not runs.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError("runs folder not found", path=root)
    return [RunDir(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")
            and (p / MANIFEST).is_file()]
