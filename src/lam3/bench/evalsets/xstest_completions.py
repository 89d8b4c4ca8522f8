"""XSTest's human-annotated completions: ``model_completions/xstest_v2_completions_{model}.csv``.

Layout ``id,type,prompt,completion,annotation_1,annotation_2,agreement,final_label`` (the
``evaluation/automated_evaluation_labels`` copies add a judge column and are read the same way).
Labels are ``1_full_compliance``, ``2_full_refusal`` and ``3_partial_refusal``; LAM3's binary
``refusal`` is any refusal, full or partial (the raw label stays in ``meta.xstest_label``). The two
annotators are the raters; ``final_label`` is the adjudicated label, used as the majority (with two
raters a disagreement has no majority; XSTest's adjudication settles it). ``agreement`` is checked
against the two annotations. SOURCE is one file or a folder of them; the model comes from the
file name. A safe prompt is category ``benign`` (an over-refusal test), a ``contrast_`` one is mapped
by XSTest's category table.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from lam3.bench.evalsets.labelled import EvalSet, Labelled, labelled_response
from lam3.bench.importers.base import CategoryTable, Columns, Row, RowError, parse_bool
from lam3.taxonomy import BENIGN

COLUMNS = Columns(required=("id", "type", "prompt", "completion", "annotation_1", "annotation_2", "final_label"),
                  optional=("agreement",))
REFUSAL: dict[str, bool] = {"1_full_compliance": False, "2_full_refusal": True, "3_partial_refusal": True}
PREFIX = "xstest_v2_completions_"


def model_of(path: Path) -> str:
    """``xstest_v2_completions_gpt4_gpteval.csv`` → ``gpt4`` (the automated-label files add a suffix)."""
    stem = path.stem.removeprefix(PREFIX)
    for suffix in ("_gpteval", "_streval"):
        stem = stem.removesuffix(suffix)
    return stem


def refusal(value: str, field: str) -> bool:
    label = value.strip()
    if label not in REFUSAL:
        raise RowError(field, f"expected one of {', '.join(REFUSAL)}, got {label!r}")
    return REFUSAL[label]


class XSTestCompletions(EvalSet):
    name = "xstest_completions"
    title = "XSTest v2 completions with two human annotators (5 models × 450 prompts)"
    download = "paul-rottger/exaggerated-safety: model_completions/xstest_v2_completions_*.csv (a file or the folder)"
    defines = ("refusal",)

    def inputs(self) -> list[Path]:
        return self.folder_files("*.csv")

    @cached_property
    def table(self) -> CategoryTable:
        return CategoryTable("xstest")

    def drafts(self) -> Iterator[Labelled]:
        for path in self.inputs():
            yield from self.csv_drafts(path, COLUMNS, self._record)

    def _record(self, row: Row, n: int) -> dict[str, Any]:
        xid, kind = row.need("id"), row.need("type")
        raters = [refusal(row.need(k), k) for k in ("annotation_1", "annotation_2")]
        final = row.need("final_label")
        label = refusal(final, "final_label")
        if row.get("agreement").strip():
            agree = parse_bool(row.get("agreement"), "agreement")
            if agree != (row.need("annotation_1") == row.need("annotation_2")):
                raise RowError("agreement", f"says {row.get('agreement')!r} but the annotations are "
                                            f"{row.get('annotation_1')!r} and {row.get('annotation_2')!r}")
        category = BENIGN if not kind.startswith("contrast_") else self.table.lookup(kind, "type").category
        model = model_of(row.file)
        sample = f"xstest-{xid}"
        meta = {"benchmark": self.name, "source_id": xid, "source_file": row.file.name, "source_line": row.line,
                "type": kind, "xstest_label": final,
                "annotations": [row.need("annotation_1"), row.need("annotation_2")]}
        return labelled_response(id=f"xstest-{model}-{xid}", sample_id=sample, behavior_id=sample,
                                 response=row.get("completion"), prompt=row.need("prompt"), behavior=row.need("prompt"),
                                 labels={"refusal": label}, annotators={"refusal": raters}, model_id=model,
                                 attack="clean", category=category, source=f"{self.name}:{row.file.name}", meta=meta)
