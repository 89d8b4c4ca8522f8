"""A LAM3 run made by the real stages: the shipped mini-bench responses scored offline and fused."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESPONSES = REPO / "data" / "mini_bench" / "responses.jsonl"


def make_run(run: Path, *, limit: int | None = None) -> Path:
    """``run/``: response.jsonl, offline_scored.jsonl (lam3 score), fused.jsonl (lam3 fuse)."""
    from lam3.pipeline.fuse import fuse_files
    from lam3.pipeline.score import score_file

    run.mkdir(parents=True)
    shutil.copy(RESPONSES, run / "response.jsonl")
    score_file(run / "response.jsonl", REPO / "configs" / "offline.yaml", run / "offline_scored.jsonl", limit=limit)
    fuse_files([run / "offline_scored.jsonl"], REPO / "configs" / "ensemble.yaml", run / "fused.jsonl")
    return run
