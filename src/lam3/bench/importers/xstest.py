"""XSTest prompts: ``xstest_prompts.csv`` (current) or ``xstest_v2_prompts.csv`` / ``xstest_prompts_v1.csv``.

Layouts: current ``id,prompt,type,label,focus,note`` (ids 1…450); v2 ``id_v1,id_v2,type,prompt,focus,
note`` (ids ``v2-N``, no label column); v1 ``id,type,prompt,focus,note`` (ids ``v1-N``). Ids become
``xstest-v2-N`` (current and v2 files: the id the completion annotations use) or ``xstest-v1-N``.
Safe prompts get category ``benign``; the contrast (unsafe) prompts are mapped by their ``type``.
Without a label column, a prompt is unsafe iff its type starts with ``contrast_`` (true of every row
of the current file).
"""

from __future__ import annotations


from lam3.bench.importers.base import Columns, Importer, Row, RowError
from lam3.records import Sample
from lam3.taxonomy import BENIGN

COLUMNS = Columns(required=("prompt", "type"), optional=("id", "id_v1", "id_v2", "label", "focus", "note"))


def xstest_id(row: Row) -> str:
    """The canonical id: ``v2-N`` for current and v2 files (joins with the completion files), else ``v1-N``."""
    if row.get("id_v2").strip():
        return row.get("id_v2").strip()
    raw = row.get("id").strip()
    if raw.isdigit():
        return f"v2-{raw}"
    if raw.startswith(("v1-", "v2-")):
        return raw
    raise RowError("id", f"expected an XSTest id (a number, v1-N or v2-N), got {raw!r}")


class XSTest(Importer):
    name = "xstest"
    title = "XSTest exaggerated-safety prompts (safe prompts and their unsafe contrasts)"
    columns = COLUMNS
    download = "paul-rottger/exaggerated-safety: xstest_prompts.csv (or the older xstest_v2_prompts.csv)"

    def sample(self, row: Row, n: int) -> tuple[Sample, list]:
        source_id = xstest_id(row)
        prompt, kind = row.need("prompt"), row.need("type")
        label = row.get("label").strip().lower() or ("unsafe" if kind.startswith("contrast_") else "safe")
        if label not in ("safe", "unsafe"):
            raise RowError("label", f"expected 'safe' or 'unsafe', got {label!r}")
        if label == "safe":
            category, meta = BENIGN, {"source_category": kind, "category_exact": True}
        else:
            category, meta = self.category(kind, "type")
        meta = self.meta(row.file, row.line, source_id, type=kind, label=label, focus=row.get("focus"),
                         note=row.get("note"), **meta)
        sid = f"xstest-{source_id}"
        return Sample(id=sid, prompt=prompt, behavior=prompt, behavior_id=sid, category=category,
                      source=f"xstest:{row.file.name}", meta=meta), []
