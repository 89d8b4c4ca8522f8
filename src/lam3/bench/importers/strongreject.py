"""StrongREJECT: ``strongreject_dataset.csv`` (313 prompts) or ``strongreject_small_dataset.csv`` (60).

Layout ``category,source,forbidden_prompt``. The file has no id column, so a sample's id is derived
from its text (``strongreject-<first 12 hex of sha256(forbidden_prompt)>``, stable when rows are
reordered, as inspect-evals does); the row number is kept in meta. The small file rewrites three
``source`` values to ``custom``: provenance comes from the full file.
"""

from __future__ import annotations

import hashlib

from lam3.bench.importers.base import Columns, Importer, Row
from lam3.records import Sample

COLUMNS = Columns(required=("category", "forbidden_prompt"), optional=("source",))


class StrongReject(Importer):
    name = "strongreject"
    title = "StrongREJECT forbidden prompts"
    columns = COLUMNS
    download = ("alexandrasouly/strongreject: strongreject_dataset/strongreject_dataset.csv "
                "(or strongreject_small_dataset.csv)")

    def sample(self, row: Row, n: int) -> tuple[Sample, list]:
        prompt = row.need("forbidden_prompt")
        category, meta = self.category(row.need("category"), "category")
        sid = f"strongreject-{hashlib.sha256(prompt.encode()).hexdigest()[:12]}"
        meta = self.meta(row.file, row.line, None, row=n, origin=row.get("source"), **meta)
        return Sample(id=sid, prompt=prompt, behavior=prompt, behavior_id=sid, category=category,
                      source=f"strongreject:{row.file.name}", meta=meta), []
