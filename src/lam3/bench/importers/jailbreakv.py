"""JailBreakV-28K: ``JailBreakV_28K.csv`` (28 000 rows) or ``mini_JailBreakV_28K.csv`` (280) plus images.

Layout ``id,jailbreak_query,redteam_query,format,policy,image_path,from,selected_mini,
transfer_from_llm`` — established from peers' loaders only (no CSV bytes were seen), so columns are
matched by name, booleans in any spelling, and unknown ``format``/``from`` values are kept as they
are. ``image_path`` is relative to the ``JailBreakV_28K/`` folder of the image archive (default: the
CSV's folder; else ``--images``). The attack prompt is ``jailbreak_query``; the behaviour is the
RedTeam-2K ``redteam_query``, and rows attacking the same query share a ``behavior_id``.
Streamed row by row: see benchmarks/bench_import.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from lam3.bench.importers.base import Columns, CopyImage, Importer, Row, RowError, parse_bool
from lam3.records import Sample

COLUMNS = Columns(required=("id", "jailbreak_query", "redteam_query", "policy", "image_path"),
                  optional=("format", "from", "selected_mini", "transfer_from_llm"))


def _flag(row: Row, column: str) -> bool | str | None:
    value = row.get(column)
    if not value.strip():
        return None
    try:
        return parse_bool(value, column)
    except RowError:
        return value  # kept verbatim: the spelling upstream uses was not verified


class JailBreakV(Importer):
    name = "jailbreakv"
    title = "JailBreakV-28K (jailbreak texts × images, 16 policies)"
    columns = COLUMNS
    download = ("Hugging Face JailbreakV-28K/JailBreakV-28k: JailBreakV_28K/JailBreakV_28K.csv (or "
                "mini_JailBreakV_28K.csv); images: JailBreakV_28K.zip from the authors, unpacked (--images)")
    has_images = True

    def default_image_root(self) -> Path:
        return self.source.parent

    def sample(self, row: Row, n: int) -> tuple[Sample, list[CopyImage]]:
        source_id = row.need("id")
        query = row.need("redteam_query")
        category, meta = self.category(row.need("policy"), "policy")
        image = self.image_root.locate(row.need("image_path"), "image_path")
        meta = self.meta(row.file, row.line, source_id, format=row.get("format"), origin=row.get("from"),
                         image_path=row.get("image_path"), selected_mini=_flag(row, "selected_mini"),
                         transfer_from_llm=_flag(row, "transfer_from_llm"), **meta)
        return Sample(id=f"jbv-{source_id}", prompt=row.need("jailbreak_query"), behavior=query,
                      behavior_id=f"jbv-q-{hashlib.sha256(query.encode()).hexdigest()[:12]}", images=[image.dest],
                      category=category, source=f"jailbreakv:{row.file.name}", meta=meta), [image]
