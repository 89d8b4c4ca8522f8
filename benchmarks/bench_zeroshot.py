"""Zero-shot NLI risk judge: batched (text x label) pairs vs the transformers pipeline called per text.

Both run the same tiny NLI checkpoint (tests/tiny/nli.py) on the same texts with the
11 policy-category hypotheses, multi-label; the script checks the scores agree.

    .venv/bin/python benchmarks/bench_zeroshot.py [--texts 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=64)
    args = parser.parse_args()

    import random

    import torch
    from transformers import pipeline

    from lam3.judges import registry
    from lam3.judges.base import ScoreInput
    from lam3.taxonomy import ZERO_SHOT_POLICY_LABELS
    from tiny.nli import build_tiny_classifier
    from tiny.tokenizer import BASE_CORPUS

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    rng = random.Random(0)
    texts = [" ".join(rng.choices(BASE_CORPUS, k=rng.randint(5, 60))) for _ in range(args.texts)]
    items = [ScoreInput(id=str(i), text=t) for i, t in enumerate(texts)]
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_classifier(Path(tmp) / "nli")
        judge = registry.build({"judge": "zero_shot_risk", "model_id": str(path), "local_files_only": True,
                                "batch_size": 64, "pair_batch_size": 256})
        pipe = pipeline("zero-shot-classification", model=judge.model, tokenizer=judge.tokenizer, device="cpu")
        labels = list(ZERO_SHOT_POLICY_LABELS.values())

        judge.score(items[:4])
        pipe(texts[0], candidate_labels=labels, multi_label=True)
        t0 = time.perf_counter()
        batched = []
        for start in range(0, len(items), 64):
            batched.extend(judge.score(items[start:start + 64]))
        t_batched = time.perf_counter() - t0
        t0 = time.perf_counter()
        per_text = [pipe(t, candidate_labels=labels, multi_label=True) for t in texts]
        t_pipe = time.perf_counter() - t0

    code = {v: k for k, v in ZERO_SHOT_POLICY_LABELS.items()}
    worst = max(abs(j.scores[code[label]] - score)
                for j, ref in zip(batched, per_text) for label, score in zip(ref["labels"], ref["scores"]))
    pairs = args.texts * len(labels)
    print(f"tiny RoBERTa NLI (2 layers, d=32), {args.texts} texts x {len(labels)} labels = {pairs} pairs, "
          f"torch threads={torch.get_num_threads()}, CPU (shared machine)")
    print(f"  batched judge (pairs through one model call per 256) {t_batched:7.3f} s  {pairs / t_batched:9.1f} pairs/s")
    print(f"  transformers pipeline per text, multi_label=True         {t_pipe:7.3f} s  {pairs / t_pipe:9.1f} pairs/s")
    print(f"  speed-up: {t_pipe / t_batched:5.1f}x   max |score difference| = {worst:.2e}")


if __name__ == "__main__":
    main()
