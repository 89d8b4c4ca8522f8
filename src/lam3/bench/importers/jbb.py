"""JailbreakBench JBB-Behaviors: ``harmful-behaviors.csv`` and ``benign-behaviors.csv``.

Layout ``Index,Goal,Target,Behavior,Category,Source`` (read by header name, case-insensitively;
early revisions left the index column unnamed, some copies drop it: then the row number, from 0,
stands in). The split is told by the file name (``harmful…`` / ``benign…``); SOURCE may be one file
or the folder holding both. Benign rows get category ``benign``; their JBB category stays in meta.
"""

from __future__ import annotations

from pathlib import Path

from lam3.bench.importers.base import Columns, Importer, Row, RowError
from lam3.errors import UserError
from lam3.records import Sample
from lam3.taxonomy import BENIGN

COLUMNS = Columns(required=("Goal", "Behavior", "Category"), optional=("Index", "Target", "Source"),
                  aliases={"": "Index", "unnamed: 0": "Index"})
SPLITS = ("harmful", "benign")


def split_of(path: Path) -> str:
    for split in SPLITS:
        if path.name.lower().startswith(split):
            return split
    raise UserError("cannot tell the split from the file name: JBB files are named harmful-behaviors.csv and "
                    "benign-behaviors.csv", path=path)


class JailbreakBench(Importer):
    name = "jbb"
    title = "JailbreakBench JBB-Behaviors (100 harmful + 100 benign behaviours)"
    columns = COLUMNS
    download = ("Hugging Face JailbreakBench/JBB-Behaviors: data/harmful-behaviors.csv and "
                "data/benign-behaviors.csv (SOURCE: one of them, or the folder holding both)")

    def inputs(self) -> list[Path]:
        if self.source.is_file():
            split_of(self.source)
            return [self.source]
        found = [p for split in SPLITS for p in sorted(self.source.glob(f"{split}*.csv"))]
        if not found:
            raise UserError("no harmful-*.csv or benign-*.csv in this folder", path=self.source)
        return found

    def sample(self, row: Row, n: int) -> tuple[Sample, list]:
        split = split_of(row.file)
        index = row.get("Index").strip() or str(n)
        if not index.isdigit():
            raise RowError("Index", f"expected a whole number, got {index!r}")
        goal = row.need("Goal")
        if split == "benign":  # its JBB category names the harmful twin's topic: kept, not mapped
            category, meta = BENIGN, {"source_category": row.need("Category"), "category_exact": True}
        else:
            category, meta = self.category(row.need("Category"), "Category")
        sid = f"jbb-{split}-{index}"
        meta = self.meta(row.file, row.line, int(index), split=split, behavior_name=row.need("Behavior"),
                         target=row.get("Target"), origin=row.get("Source"), **meta)
        return Sample(id=sid, prompt=goal, behavior=goal, behavior_id=sid, category=category,
                      source=f"jbb:{row.file.name}", meta=meta), []

