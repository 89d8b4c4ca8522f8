"""The one judge call every engine makes: a judge's failure becomes per-record errors, nothing is dropped."""

from __future__ import annotations

from collections.abc import Sequence

from lam3.judges.base import Judge, ScoreInput
from lam3.records import Judgement
from lam3.secrets import redact

Verdicts = list[dict[str, Judgement]]
"""One ``{judge key: Judgement}`` per record of a batch, in the batch's order."""


def run_judge(judge: Judge, items: Sequence[ScoreInput]) -> list[Judgement]:
    """One judgement per item: ``judge.config.batch_size`` at a time (or all at once for a judge that
    batches internally); a chunk whose call raises, or returns the wrong count, gets an error each."""
    size = len(items) if judge.batches_internally else judge.config.batch_size
    out: list[Judgement] = []
    for start in range(0, len(items), max(size, 1)):
        chunk = list(items[start:start + size])
        try:
            results = judge.score(chunk)
            if len(results) != len(chunk):
                raise RuntimeError(f"returned {len(results)} judgements for {len(chunk)} inputs")
        except Exception as exc:  # a judge failure becomes a per-record error, the run goes on
            msg = redact(f"{type(exc).__name__}: {exc}")
            results = [judge.failure(msg) for _ in chunk]
        out.extend(results)
    return out


def merge(keys: Sequence[str], per_judge: Sequence[Sequence[Judgement]], n: int) -> Verdicts:
    """Per-record ``{key: Judgement}`` from per-judge lists, keys in config order (the output's key order)."""
    out: Verdicts = [{} for _ in range(n)]
    for key, results in zip(keys, per_judge):
        for slot, result in zip(out, results):
            slot[key] = result
    return out
