"""HarmBench behaviours: the text CSVs (standard, contextual, copyright) and the multimodal CSV + images.

Layouts (read by header name; text and multimodal order their columns differently):
text ``Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID``; multimodal
``Behavior,BehaviorID,FunctionalCategory,SemanticCategory,ImageFileName,Source,ImageDescription,
RedactedImageDescription,Tags``. The attack prompt is HarmBench's DirectRequest test case: the
behaviour, preceded by ``{context}\\n\\n---\\n\\n`` for contextual behaviours. A multimodal
behaviour's ``context`` is its ``RedactedImageDescription`` (what HarmBench's classifier is given).
Seven multimodal rows name a ``.jpg``/``.jpeg`` that upstream ships as ``<stem>.png``; that name is tried next.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lam3.bench.importers.base import Columns, CopyImage, Draft, Importer, Row, has_column, read_header
from lam3.records import Sample

TEXT = Columns(required=("Behavior", "FunctionalCategory", "SemanticCategory", "BehaviorID"),
               optional=("Tags", "ContextString"))
MULTIMODAL = Columns(required=("Behavior", "BehaviorID", "FunctionalCategory", "SemanticCategory", "ImageFileName"),
                     optional=("Source", "ImageDescription", "RedactedImageDescription", "Tags"))


def direct_request(behavior: str, context: str | None) -> str:
    """HarmBench's DirectRequest test case (baselines/direct_request): context, a rule, the behaviour."""
    return f"{context}\n\n---\n\n{behavior}" if context else behavior


class HarmBench(Importer):
    name = "harmbench"
    title = "HarmBench behaviours (text: standard, contextual, copyright; multimodal with images)"
    download = ("centerforaisafety/HarmBench: data/behavior_datasets/harmbench_behaviors_text_{all,val,test}.csv or "
                "harmbench_behaviors_multimodal_all.csv; images in data/multimodal_behavior_images/")
    has_images = True

    def default_image_root(self) -> Path:
        return self.source.parent.parent / "multimodal_behavior_images"

    def drafts(self) -> Iterator[Draft]:
        if has_column(read_header(self.source), "ImageFileName"):
            yield from self.csv_drafts(self.source, MULTIMODAL, self._multimodal)
        else:
            yield from self.csv_drafts(self.source, TEXT, self._text)

    def _common(self, row: Row) -> tuple[str, str, str, dict]:
        behavior, bid = row.need("Behavior"), row.need("BehaviorID")
        category, meta = self.category(row.need("SemanticCategory"), "SemanticCategory")
        tags = [t for t in row.get("Tags").split(", ") if t]
        meta = self.meta(row.file, row.line, bid, functional_category=row.get("FunctionalCategory"), tags=tags,
                         **meta)
        return behavior, bid, category, meta

    def _text(self, row: Row, n: int) -> tuple[Sample, list]:
        behavior, bid, category, meta = self._common(row)
        context = row.get("ContextString") or None
        return Sample(id=bid, prompt=direct_request(behavior, context), behavior=behavior, behavior_id=bid,
                      context=context, category=category, source=f"harmbench:{row.file.name}", meta=meta), []

    def _multimodal(self, row: Row, n: int) -> tuple[Sample, list[CopyImage]]:
        behavior, bid, category, meta = self._common(row)
        name = row.need("ImageFileName")
        image = self.image_root.locate(name, "ImageFileName", alternatives=(f"{Path(name).stem}.png",))
        meta.update(image_file=name, image_source=row.get("Source"), image_description=row.get("ImageDescription"))
        return Sample(id=bid, prompt=behavior, behavior=behavior, behavior_id=bid, images=[image.dest],
                      context=row.get("RedactedImageDescription") or None, category=category,
                      source=f"harmbench:{row.file.name}", meta=meta), [image]
