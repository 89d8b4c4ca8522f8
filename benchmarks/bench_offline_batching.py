"""Offline judges: records/s batched (one score() call per 256 texts) vs one text per call.

Texts are the mini benchmark's example responses, repeated to ``--n``. The ratio is what batching
buys (for profanity_check: one vectoriser + model call per batch instead of per text).

    .venv/bin/python benchmarks/bench_offline_batching.py [--n 4000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import machine  # noqa: E402

from lam3.bench.mini_bench import responses_path  # noqa: E402
from lam3.judges import registry  # noqa: E402
from lam3.judges.base import ScoreInput  # noqa: E402


def rate(judge, items: list[ScoreInput], batch: int) -> float:
    t0 = time.perf_counter()
    for start in range(0, len(items), batch):
        judge.score(items[start:start + batch])
    return len(items) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    texts = [json.loads(line)["response"] for line in open(responses_path(), encoding="utf-8")]
    items = [ScoreInput(id=str(i), text=texts[i % len(texts)]) for i in range(args.n)]
    print(f"offline judges, {args.n} texts, batch {args.batch} — {machine()} (shared machine)")
    print(f"{'judge':<16} {'batched rec/s':>14} {'one-by-one rec/s':>17} {'ratio':>7}")
    for name in ("profanity_check", "keyword_risk", "refusal"):
        judge = registry.build({"judge": name})
        judge.score(items[:8])  # load the model / compile patterns outside the timing
        batched = rate(judge, items, args.batch)
        single = rate(judge, items[: max(200, args.n // 10)], 1)
        print(f"{name:<16} {batched:>14,.0f} {single:>17,.0f} {batched / single:>6.1f}x")


if __name__ == "__main__":
    main()
