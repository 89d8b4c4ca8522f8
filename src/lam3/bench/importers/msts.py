"""MSTS (Multimodal Safety Test Suite): ``data/prompts/<language>_multimodal.csv`` (or ``english_textonly.csv``).

Layout ``hazard_category,hazard_subcategory,hazard_subsubcategory,case_id,case_text,unsafe_image_id,
unsafe_image_description,prompt_id,prompt_text,prompt_type`` (the translations have no ``prompt_id``;
the text-only file no ``unsafe_image_id``). Images are not in the repository: its
``src/0_download_images.py`` saves them as ``data/unsafe_images/<unsafe_image_id>.{jpg,png}`` (the
default ``--images``); ``.png`` is tried first, as its ``2_run_model.py`` does. Ids:
``msts-<file stem>-<prompt_id>`` (or ``…-<case_id>-<prompt_type>``); the case (``msts-case_NNNN``)
is the behaviour id, shared by its assistance and intention prompts. MSTS's 4,000 human-labelled
responses are an evaluation split and are not imported here.
"""

from __future__ import annotations

from pathlib import Path

from lam3.bench.importers.base import Columns, CopyImage, Importer, Row
from lam3.records import Sample

COLUMNS = Columns(required=("hazard_category", "case_id", "prompt_text", "prompt_type"),
                  optional=("hazard_subcategory", "hazard_subsubcategory", "case_text", "unsafe_image_id",
                            "unsafe_image_description", "prompt_id"))


class MSTS(Importer):
    name = "msts"
    title = "MSTS multimodal safety test suite (prompts + unsafe images)"
    columns = COLUMNS
    download = ("paul-rottger/msts-multimodal-safety: data/prompts/english_multimodal.csv (or another language); "
                "images fetched by its src/0_download_images.py into data/unsafe_images/")
    has_images = True

    def default_image_root(self) -> Path:
        return self.source.parent.parent / "unsafe_images"

    def sample(self, row: Row, n: int) -> tuple[Sample, list[CopyImage]]:
        case, kind = row.need("case_id"), row.need("prompt_type")
        category, meta = self.category(row.need("hazard_category"), "hazard_category")
        images = []
        image_id = row.get("unsafe_image_id").strip()
        if image_id:
            images.append(self.image_root.locate(f"{image_id}.png", "unsafe_image_id",
                                                 alternatives=(f"{image_id}.jpg",)))
        prompt_id = row.get("prompt_id").strip()
        source_id = prompt_id or f"{case}-{kind}"
        meta = self.meta(row.file, row.line, source_id, case_id=case, prompt_type=kind,
                         hazard_subcategory=row.get("hazard_subcategory"),
                         hazard_subsubcategory=row.get("hazard_subsubcategory"), unsafe_image_id=image_id or None,
                         unsafe_image_description=row.get("unsafe_image_description"), **meta)
        return Sample(id=f"msts-{row.file.stem}-{source_id}", prompt=row.need("prompt_text"),
                      behavior=row.get("case_text").strip() or None, behavior_id=f"msts-{case}",
                      images=[i.dest for i in images], category=category, source=f"msts:{row.file.name}",
                      meta=meta), images
