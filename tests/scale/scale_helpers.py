"""Shared bits of the engine tests: configs written to tmp, outputs compared without latency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESPONSES = REPO / "data" / "mini_bench" / "responses.jsonl"


def write_config(path: Path, judges: list[dict[str, Any]], **top: Any) -> Path:
    path.write_text(yaml.safe_dump({"id_field": "id", "text_field": "response", "prompt_field": "prompt",
                                    "batch_size": 8, **top, "judges": judges}, sort_keys=False))
    return path


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def without_latency(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as written, latency fields blanked (the one thing an engine may change)."""
    out = []
    for rec in records:
        rec = json.loads(json.dumps(rec))
        for judgement in rec.get("judgements", {}).values():
            judgement["latency_ms"] = None
        out.append(rec)
    return out
