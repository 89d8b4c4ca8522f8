"""MM-SafetyBench: ``data/processed_questions/<NN-Scenario>.json`` plus the image archive.

Each scenario file is an object ``{id: {Question, Changed Question, Key Phrase, Phrase Type,
Rephrased Question, Rephrased Question(SD), …}}`` (ids are strings with gaps). Every question
becomes three samples, one per image variant, paired as the benchmark pairs them:
``SD`` ↔ ``Rephrased Question(SD)``, ``SD_TYPO`` and ``TYPO`` ↔ ``Rephrased Question``; the image is
``<images>/<NN-Scenario>/<variant>/<id>.jpg``. SOURCE is the ``processed_questions`` folder (or one
scenario file); ``--images`` is the unpacked image archive (default: ``imgs`` next to the folder,
where the benchmark's creation script writes them). The behaviour is the original ``Question``.
The files are small (≤ 200 entries) and read whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lam3.bench.importers.base import Draft, Importer, RowError, read_json, top_level_key_lines
from lam3.errors import UserError
from lam3.records import Sample

VARIANTS: dict[str, str] = {"SD": "Rephrased Question(SD)", "SD_TYPO": "Rephrased Question",
                            "TYPO": "Rephrased Question"}
"""Image variant → the question text the benchmark pairs with it."""
SCENARIO_FILE = re.compile(r"^(\d{2})-(.+)\.json$")


class MMSafetyBench(Importer):
    name = "mmsafetybench"
    title = "MM-SafetyBench (13 scenarios × SD, SD_TYPO and TYPO images)"
    download = ("isXinLiu/MM-SafetyBench: data/processed_questions/*.json; images: the released image archive "
                "(folders <NN-Scenario>/{SD,SD_TYPO,TYPO}/<id>.jpg), passed with --images")
    has_images = True

    def default_image_root(self) -> Path:
        folder = self.source if self.source.is_dir() else self.source.parent
        return folder.parent / "imgs"

    def inputs(self) -> list[Path]:
        if self.source.is_file():
            return [self.source]
        found = sorted(p for p in self.source.glob("*.json") if SCENARIO_FILE.match(p.name))
        if not found:
            raise UserError("no <NN-Scenario>.json files in this folder (expected data/processed_questions)",
                            path=self.source)
        return found

    def estimate(self) -> int | None:
        return None

    def drafts(self) -> Iterator[Draft]:
        for path in self.inputs():
            data = read_json(path)
            if not isinstance(data, dict):
                raise UserError("expected a JSON object {question id: entry}", path=path, line=1)
            lines = top_level_key_lines(path)
            scenario = path.stem
            for qid, entry in data.items():
                line = lines.get(qid, 1)
                for variant, question_key in VARIANTS.items():
                    try:
                        sample, images = self._sample(path, line, scenario, qid, entry, variant, question_key)
                    except RowError as exc:
                        yield Draft(path, line, error=exc)
                    else:
                        yield Draft(path, line, sample=sample, images=images)

    def _sample(self, path: Path, line: int, scenario: str, qid: str, entry: Any, variant: str,
                question_key: str) -> tuple[Sample, list]:
        if not isinstance(entry, dict):
            raise RowError(qid, "expected an object with Question, Rephrased Question, …")

        def need(key: str) -> str:
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                raise RowError(f"{qid}.{key}", "missing or empty")
            return value

        match = SCENARIO_FILE.match(path.name)
        category, meta = self.category(match.group(2) if match else scenario, "scenario")
        image = self.image_root.locate(f"{scenario}/{variant}/{qid}.jpg", f"{qid}.image[{variant}]")
        bid = f"mmsb-{scenario}-{qid}"
        meta = self.meta(path, line, qid, scenario=scenario, variant=variant, key_phrase=entry.get("Key Phrase"),
                         phrase_type=entry.get("Phrase Type"), changed_question=entry.get("Changed Question"),
                         **meta)
        return Sample(id=f"{bid}-{variant}", prompt=need(question_key), behavior=need("Question"), behavior_id=bid,
                      images=[image.dest], category=category, source=f"mmsafetybench:{path.name}",
                      meta=meta), [image]
