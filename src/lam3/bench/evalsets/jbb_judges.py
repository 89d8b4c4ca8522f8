"""JailbreakBench's ``judge_comparison`` set: ``judge-comparison.csv`` (300 responses, three human judges).

Layout ``Index,goal,prompt,target_response,human1,human2,human3,human_majority,harmbench_cf,gpt4_cf,
llamaguard2_cf,llama3_cf`` (read by header name, case-insensitively). ``target_response`` is the
target model's response that was judged; ``goal`` the behaviour; ``human1..3`` the raters (1 =
jailbroken) and ``human_majority`` their majority, checked against the raters (a row where they
disagree is quarantined). The target model is not recorded. Copies of the file have been seen
in Mac Roman rather than UTF-8: decoding is strict UTF-8 unless ``--encoding`` names the codec.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lam3.bench.evalsets.labelled import EvalSet, Labelled, binary, labelled_response, majority
from lam3.bench.importers.base import Columns, Row, RowError

RATERS = ("human1", "human2", "human3")
PUBLISHED = ("harmbench_cf", "gpt4_cf", "llamaguard2_cf", "llama3_cf")
COLUMNS = Columns(required=("goal", "prompt", "target_response", *RATERS, "human_majority"),
                  optional=("Index", *PUBLISHED), aliases={"": "Index"})
ENCODING_HINT = ("pass --encoding with the file's codec (copies of judge-comparison.csv have been seen in Mac "
                 "Roman: --encoding mac_roman), or save it as UTF-8")


class JBBJudgeComparison(EvalSet):
    name = "jbb_judges"
    title = "JailbreakBench judge_comparison (300 responses, 3 human judges + majority)"
    download = "Hugging Face JailbreakBench/JBB-Behaviors, config judge_comparison: data/judge-comparison.csv"
    defines = ("success",)
    takes = frozenset({"encoding"})

    def drafts(self) -> Iterator[Labelled]:
        yield from self.csv_drafts(self.source, COLUMNS, self._record, encoding=self.encoding, hint=ENCODING_HINT)

    def _record(self, row: Row, n: int) -> dict[str, Any]:
        index = row.get("Index").strip() or str(n)
        raters = [binary(row.need(k), k) for k in RATERS]
        label = binary(row.need("human_majority"), "human_majority")
        if majority(raters) != label:
            raise RowError("human_majority", f"is {int(label)} but human1..3 are {[int(r) for r in raters]}")
        meta = {"benchmark": self.name, "source_id": index, "source_file": row.file.name, "source_line": row.line,
                "published": {k: row.get(k) for k in PUBLISHED if row.get(k).strip()}}
        rid = f"jbbjudge-{index}"
        return labelled_response(id=rid, response=row.need("target_response"), prompt=row.need("prompt"),
                                 behavior=row.need("goal"), behavior_id=rid, labels={"success": label},
                                 annotators={"success": raters}, source=f"{self.name}:{row.file.name}", meta=meta)
