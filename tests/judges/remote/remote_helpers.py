"""Constants and small helpers shared by the remote-judge tests (imported by name; no __init__ here)."""

from __future__ import annotations

from lam3.judges.base import ScoreInput

PERSPECTIVE_KEY = "pk-LAM3FAKE-7c1e9d2b55aa"
OPENAI_KEY = "sk-LAM3FAKE-4f8a0b6e91cc"
# Fast patience so retries take milliseconds; the rate stays high so tests stay quick.
FAST = {"requests_per_second": 50, "backoff_initial_s": 0.02, "backoff_max_s": 0.1, "timeout_s": 5,
        "max_concurrency": 8}


def inputs(texts: list[str], images: list[list[str]] | None = None) -> list[ScoreInput]:
    return [ScoreInput(id=f"r{i}", text=t, images=(images[i] if images else [])) for i, t in enumerate(texts)]
