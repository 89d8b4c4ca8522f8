"""HarmBench completions and results JSON, both ways.

Completions (``generate_completions.py``): ``{behavior_id: [{"test_case", "generation"}, …]}``; a
multimodal test case is ``[image, text]``. Results (``evaluate_completions.py``) add ``label``: 1 the
generation is an instance of the behaviour, 0 not, −1 unparseable (LAM3: not judged), counted as a
failure by HarmBench's ASR. Items are identified by (behaviour id, position); the model only by the
file name (``completions/<model>.json``).

Export: behaviour id = the response's ``behavior_id`` (else its ``sample_id``); test case = its prompt,
or ``[image path as recorded, prompt]``; responses whose generation errored are left out (counted).
Import (``lam3 score completions.json``): each item becomes a response ``<behavior_id>#<position>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lam3.export.run import ExportSummary, Run
from lam3.export.success import Success
from lam3.store import write_json


def test_case(rec: dict[str, Any]) -> str | list[str]:
    images = rec.get("images") or []
    prompt = rec.get("prompt") or ""
    return [images[0], prompt] if images else prompt


def export_harmbench(run: Run, out: Path, *, results: bool, success: Success) -> ExportSummary:
    """Write HarmBench completions (``results=False``) or results with labels."""
    summary = ExportSummary(output=out)
    verdicts = run.verdicts() if results else {}
    data: dict[str, list[dict[str, Any]]] = {}
    for rec in run.responses():
        if rec.get("error"):
            summary.skip("their generation errored")
            continue
        if len(rec.get("images") or []) > 1:
            summary.skip("more than one image (a HarmBench test case holds one)")
            continue
        item: dict[str, Any] = {"test_case": test_case(rec), "generation": rec.get("response") or ""}
        if results:
            verdict = success(verdicts.get(rec["id"]))
            item["label"] = -1 if verdict is None else int(verdict)
        data.setdefault(str(rec.get("behavior_id") or rec.get("sample_id") or rec["id"]), []).append(item)
        summary.written += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, data)
    if results:
        summary.notes += success.warnings()
    return summary


def read_harmbench(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """A HarmBench completions/results file as responses: ``(line, record)`` or ``(line, error)``.

    The line is where the behaviour's list starts (for errors); the JSON is read whole (HarmBench
    writes one object).
    """
    from lam3.bench.importers.base import read_json, top_level_key_lines
    from lam3.errors import UserError

    data = read_json(path)
    if not isinstance(data, dict):
        raise UserError("expected a HarmBench completions object {behavior_id: [{test_case, generation}]}",
                        path=path, line=1)
    lines = top_level_key_lines(path)
    for bid, items in data.items():
        line = lines.get(bid, 1)
        if not isinstance(items, list):
            yield line, f"{bid}: expected a list of {{test_case, generation}}"
            continue
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("generation"), str):
                yield line, f"{bid}[{i}].generation: missing or not a string"
                continue
            case = item.get("test_case")
            image, prompt = (case[0], case[1]) if isinstance(case, list) and len(case) == 2 else (None, case)
            rec: dict[str, Any] = {"id": f"{bid}#{i}", "sample_id": bid, "behavior_id": bid,
                                   "prompt": prompt if isinstance(prompt, str) else None,
                                   "images": [image] if isinstance(image, str) else [],
                                   "response": item["generation"], "model_id": path.stem, "attack": "harmbench"}
            peer = {k: item[k] for k in ("label", "advbench_label") if k in item}
            if peer:
                rec["harmbench"] = peer
            yield line, rec
