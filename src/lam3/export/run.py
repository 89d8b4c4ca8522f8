"""Reading a LAM3 run for export: its responses, their fused verdicts and the benchmark they came from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lam3.errors import UserError
from lam3.pipeline.fused_records import read_fused
from lam3.pipeline.rundir import RunDir
from lam3.records import METRICS, FusedResult
from lam3.store import iter_jsonl


@dataclass
class ExportSummary:
    output: Path
    written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    @property
    def warnings(self) -> list[str]:
        return [f"{n} responses left out: {reason}" for reason, n in self.skipped.items()] + self.notes


class Run:
    """A run folder: ``response.jsonl`` (lam3 generate) and ``fused.jsonl`` (lam3 fuse)."""

    def __init__(self, path: str | Path, *, attack: str | None = None) -> None:
        self.dir = RunDir.open(path)
        self.attack = attack

    def _need(self, path: Path, stage: str) -> Path:
        if not path.is_file():
            raise UserError(f"not found: run '{stage}' first (a run folder holds response.jsonl and fused.jsonl)",
                            path=path)
        return path

    def responses(self) -> Iterator[dict[str, Any]]:
        """The run's responses in file order (only ``attack`` ones when given)."""
        for _, rec in iter_jsonl(self._need(self.dir.responses, "lam3 generate")):
            if self.attack is None or rec.get("attack", "clean") == self.attack:
                yield rec

    def fused(self) -> Iterator[FusedResult]:
        """The run's fused records (older versions upgraded), only ``attack`` ones when given."""
        for _, rec in read_fused(self._need(self.dir.fused, "lam3 fuse")):
            if self.attack is None or getattr(rec, "attack", "clean") == self.attack:
                yield rec

    def verdicts(self) -> dict[str, FusedResult]:
        """Response id → its fused metrics (what :class:`Success` reads; carried fields dropped to save memory)."""
        return {rec.id: FusedResult(id=rec.id, review=rec.review, **{m: getattr(rec, m) for m in METRICS})
                for rec in self.fused()}

    def attacks(self) -> list[str]:
        return sorted({str(rec.get("attack", "clean")) for rec in self.responses()})

    def bench_dir(self) -> Path | None:
        """The benchmark folder ``lam3 generate`` read (from the run manifest), if it is still there."""
        for name, stage in self.dir.manifest().stages.items():
            if name.startswith("generate:"):
                bench = (stage.config or {}).get("bench")
                if bench and Path(bench).is_dir():
                    return Path(bench)
        return None

    def commit(self) -> str:
        return str(self.dir.manifest().git.commit or "")
