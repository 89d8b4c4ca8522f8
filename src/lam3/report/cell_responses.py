"""A few responses per cell (model × category × attack), chosen the same way on every run of the report.

Why: a rate says how often; a reader also needs to see *what* the model said in each cell, with
every judge's vote beside it. Choosing is deterministic and streaming: per cell a bounded heap
keeps the most disputed responses first (judges split), then those whose id hashes lowest (a
fixed pseudo-random pick, not the file order), so memory is cells × ``per_cell`` whatever the
run's size. Texts are cut to :data:`EXCERPT` characters, with their full length kept for the note.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass, field
from typing import Any

from lam3.fusion.labels import human_label
from lam3.records import METRICS, FusedResult

EXCERPT = 600
"""Characters of a prompt, behaviour or response shown in the report."""
TEXT_FIELDS = ("behavior", "prompt", "response")


def excerpt(value: Any, limit: int = EXCERPT) -> dict[str, Any]:
    """``{text, length, cut}``: the first ``limit`` characters of ``value`` and how long it was."""
    text = "" if value is None else str(value)
    return {"text": text[:limit], "length": len(text), "cut": len(text) > limit}


def dispute_of(rec: FusedResult) -> float:
    """0 = judges agree, 0.5 = an even split (the most disputed), over every fused metric."""
    best = 0.0
    for m in METRICS:
        result = getattr(rec, m)
        votes = [v for v in result.votes.values() if v is not None]
        if votes and result.disagreement:
            yes = sum(votes)
            best = max(best, min(yes, len(votes) - yes) / len(votes))
    return best


def id_rank(record_id: str) -> int:
    """A fixed pseudo-random rank of an id (the same on every machine and run, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(record_id.encode("utf-8"), digest_size=8).digest(), "big")


def shown(rec: FusedResult, dispute: float) -> dict[str, Any]:
    """What the report shows of one response: its fields, excerpts, every judge's vote and each fused verdict."""
    extra = rec.model_extra or {}
    labels = extra.get("labels")
    item: dict[str, Any] = {k: extra.get(k) for k in ("model_id", "attack", "category")}
    item.update(id=rec.id, dispute=dispute, **{f: excerpt(extra.get(f)) for f in TEXT_FIELDS})
    item["metrics"] = {m: {"flagged": r.flagged, "score": r.score, "votes": dict(r.votes),
                           "probabilities": dict(r.probabilities), "resolution": r.resolution,
                           "disagreement": r.disagreement, "human": human_label(labels, m)}
                       for m in METRICS if (r := getattr(rec, m)).votes or r.flagged is not None}
    return item


@dataclass
class CellResponses:
    """The streaming pick: ``add`` every fused record once, then ``cells()``."""

    per_cell: int = 3
    heaps: dict[tuple[str, ...], list[tuple[float, int, int, dict[str, Any]]]] = field(default_factory=dict)
    seen: dict[tuple[str, ...], int] = field(default_factory=dict)

    def add(self, key: tuple[str, ...], rec: FusedResult, line: int, dispute: float) -> None:
        self.seen[key] = self.seen.get(key, 0) + 1
        if self.per_cell <= 0:
            return
        heap = self.heaps.setdefault(key, [])
        # the heap's smallest entry is the first to drop: least disputed, then highest id rank, then latest line
        rank = (dispute, -id_rank(rec.id), -line)
        if len(heap) < self.per_cell:
            heapq.heappush(heap, (*rank, shown(rec, dispute)))
        elif rank > heap[0][:3]:
            heapq.heapreplace(heap, (*rank, shown(rec, dispute)))

    def cells(self) -> list[dict[str, Any]]:
        """One entry per cell (sorted by key): ``key``, ``responses`` (the pick, best first), ``of`` (all in the cell)."""
        return [{"key": key, "of": self.seen[key],
                 "responses": [e[3] for e in sorted(self.heaps.get(key, []), reverse=True)]}
                for key in sorted(self.seen)]
