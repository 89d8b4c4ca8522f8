"""HarmBench's classifier validation sets: ``text_behaviors_val_set.json`` and ``multimodal_behaviors_val_set.json``.

Layout: ``{BehaviorID: [item, item]}``. A text item has ``test_case`` (the attack prompt),
``generation``, ``model`` (a completions file name, ``llama2_13b.json``), ``method``,
``behavior_id``, the published judges' verdicts (``cls``, ``llama_guard``, …) and three raters
``human_0``, ``human_1``, ``human_2`` (0/1; 1 = the generation is an instance of the behaviour).
A multimodal item has ``test_case: [image_path, text]`` and, on the first item of a behaviour
only, ``image_description``. The label is HarmBench's: ``success = human_0 + human_1 + human_2 ≥ 2``
(its notebook's rule; no majority field is stored).

The JSON holds no behaviour text, so ``--behaviors`` names HarmBench's behaviours CSV
(``harmbench_behaviors_text_all.csv`` / ``harmbench_behaviors_multimodal_all.csv``): it gives each
item its ``behavior``, ``context`` (``ContextString``; for multimodal the ``RedactedImageDescription``
the classifier reads) and category. A BehaviorID missing from it is quarantined (three text ones
are, as the notebook skips them). The adversarial images are not distributed: images stay empty
and the path is kept in ``meta.image_path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from lam3.bench.evalsets.labelled import UNKNOWN, EvalSet, Labelled, binary, labelled_response, majority
from lam3.bench.importers.base import CategoryTable, RowError, has_column, read_csv, read_header, read_json, \
    top_level_key_lines
from lam3.bench.importers.harmbench import MULTIMODAL, TEXT
from lam3.errors import UserError

RATERS = ("human_0", "human_1", "human_2")
PUBLISHED = ("cls", "cls_mistral", "llama_guard", "gpt-4-1106-preview", "gpt-4-0613", "advbench", "GPTFuzz",
             "mixtral", "chatglm", "llama_cls", "mistral_cls", "advbench_label")
"""Published judges' 0/1 verdicts kept in ``meta.published`` (for comparison; LAM3 does not score with them)."""


class Behavior:
    """One row of the behaviours CSV, as the classifier needs it."""

    def __init__(self, text: str, context: str | None, category: str, source_category: str) -> None:
        self.text, self.context, self.category, self.source_category = text, context, category, source_category


class HarmBenchVal(EvalSet):
    name = "harmbench_val"
    title = "HarmBench classifier validation sets (text 602 / multimodal 220 human-labelled generations)"
    download = ("centerforaisafety/HarmBench: data/classifier_val_sets/{text,multimodal}_behaviors_val_set.json, "
                "with --behaviors data/behavior_datasets/harmbench_behaviors_{text,multimodal}_all.csv")
    defines = ("success",)
    takes = frozenset({"behaviors"})

    def inputs(self) -> list[Path]:
        return [self.source, *([self.behaviors] if self.behaviors else [])]

    def _behaviors(self) -> dict[str, Behavior]:
        if self.behaviors is None:
            raise UserError("the HarmBench validation JSON holds no behaviour text: pass --behaviors with HarmBench's "
                            "behaviours CSV (harmbench_behaviors_text_all.csv or ..._multimodal_all.csv)",
                            field="--behaviors")
        multimodal = has_column(read_header(self.behaviors), "ImageFileName")
        table = CategoryTable("harmbench")
        found: dict[str, Behavior] = {}
        for row in read_csv(self.behaviors, MULTIMODAL if multimodal else TEXT):
            if row.error is not None:
                raise UserError(row.error.reason, path=row.file, line=row.line, field=row.error.field)
            try:
                source_category = row.need("SemanticCategory")
                entry = table.lookup(source_category, "SemanticCategory")
                context = row.get("RedactedImageDescription" if multimodal else "ContextString") or None
                found[row.need("BehaviorID")] = Behavior(row.need("Behavior"), context, entry.category, source_category)
            except RowError as exc:
                raise UserError(exc.reason, path=row.file, line=row.line, field=exc.field) from None
        return found

    def drafts(self) -> Iterator[Labelled]:
        behaviors = self._behaviors()
        data = read_json(self.source)
        if not isinstance(data, dict):
            raise UserError("expected a JSON object {BehaviorID: [items]} (HarmBench's classifier_val_sets layout)",
                            path=self.source, line=1)
        lines = top_level_key_lines(self.source)
        for bid, items in data.items():
            line = lines.get(bid, 1)
            if not isinstance(items, list):
                yield Labelled(self.source, line, error=RowError(bid, "expected a list of items"))
                continue
            for i, item in enumerate(items):
                try:
                    yield Labelled(self.source, line, record=self._record(bid, i, item, behaviors))
                except RowError as exc:
                    yield Labelled(self.source, line, error=exc)

    def _record(self, bid: str, i: int, item: Any, behaviors: dict[str, Behavior]) -> dict[str, Any]:
        where = f"{bid}[{i}]"
        if not isinstance(item, dict):
            raise RowError(where, "expected an object")
        for key in ("test_case", "generation", *RATERS):
            if key not in item:
                raise RowError(f"{where}.{key}", "missing")
        behavior = behaviors.get(bid)
        if behavior is None:
            raise RowError(where, f"behaviour {bid!r} is not in the behaviours file {self.behaviors.name} "  # type: ignore[union-attr]
                                  "(HarmBench's validation notebook skips such items too)")
        raters = [binary(item[k], f"{where}.{k}") for k in RATERS]
        generation = item["generation"]
        if not isinstance(generation, str):
            raise RowError(f"{where}.generation", "expected a string")
        test_case = item["test_case"]
        meta: dict[str, Any] = {"benchmark": self.name, "source_id": where, "source_file": self.source.name,
                                "source_category": behavior.source_category,
                                "published": {k: item[k] for k in PUBLISHED if k in item}}
        if isinstance(test_case, list):  # multimodal: [image path, text]
            if len(test_case) != 2 or not all(isinstance(x, str) for x in test_case):
                raise RowError(f"{where}.test_case", "expected [image_path, text]")
            image, prompt = test_case
            parts = PurePosixPath(image).parts  # results/<method>/<model>/test_cases/<file>
            method = parts[1] if len(parts) > 2 else UNKNOWN
            model = parts[2] if len(parts) > 3 else UNKNOWN
            meta.update(image_path=image, image_description=item.get("image_description"))
        elif isinstance(test_case, str):
            prompt = test_case
            model = str(item.get("model") or "").removesuffix(".json") or UNKNOWN
            method = str(item.get("method") or UNKNOWN)
            meta.update(experiment=item.get("experiment"))
        else:
            raise RowError(f"{where}.test_case", "expected a string or [image_path, text]")
        rid = f"hbval-{bid}-{i}"
        return labelled_response(id=rid, response=generation, prompt=prompt, labels={"success": majority(raters)},
                                 annotators={"success": raters}, model_id=model, attack=method,
                                 behavior=behavior.text, behavior_id=bid, context=behavior.context,
                                 category=behavior.category, source=f"{self.name}:{self.source.name}", meta=meta)
