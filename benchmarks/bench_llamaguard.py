"""Llama Guard judging: one-pass logit scoring vs generate-based judging, same tiny guard, same records.

Prints wall time per configuration, the speed-up ratios, and whether the verdicts
(and categories) agree record for record. The tiny guard (tests/tiny/llama_guard.py)
answers in Llama Guard's format ('safe' / 'unsafe\\nS1', then </s>), so generation
stops early as a real guard's does; with a real 8B guard the prompt is ~300 tokens
as here, and the decoding loop costs more per step, not less.

    .venv/bin/python benchmarks/bench_llamaguard.py [--records 256] [--batch 32]
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

WORDS = ("how to make a bomb hack a car tell me joke describe this image shows cat dog tree house fraud drug "
         "kill sorry I cannot help with that sure here is step one you your please thanks hello world good bad").split()


def records(n: int):
    import random

    from lam3.judges.base import ScoreInput

    rng = random.Random(0)
    out = []
    for i in range(n):
        prompt = " ".join(rng.choices(WORDS, k=rng.randint(4, 12)))
        response = " ".join(rng.choices(WORDS, k=rng.randint(5, 60)))
        out.append(ScoreInput(id=str(i), text=response, prompt=prompt))
    return out


def timed(judge, items, repeats: int = 2):
    judge.score(items[:4])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = judge.score(items)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    import torch

    from lam3.judges import registry
    from tiny.llama_guard import build_tiny_llama_guard

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    items = records(args.records)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_llama_guard(Path(tmp) / "guard")

        def judge(**options):
            return registry.build({"judge": "llama_guard", "model_id": str(path), "local_files_only": True,
                                   **options})

        runs = {
            f"logits, batch {args.batch} (verdict + categories of unsafe)": judge(batch_size=args.batch),
            f"logits, batch {args.batch}, verdict only (categories: false)": judge(batch_size=args.batch,
                                                                                   categories=False),
            f"generate, batch {args.batch}": judge(batch_size=args.batch, mode="generate"),
            "generate, one record at a time": judge(batch_size=1, mode="generate"),
        }
        results = {name: timed(j, items, repeats=1 if "one record" in name else 3) for name, j in runs.items()}

    names = list(results)
    base_t, base_out = results[names[0]]
    ntok = len(runs[names[0]].tokenizer(runs[names[0]].build_prompt(items[0].prompt, items[0].text))["input_ids"])
    print(f"tiny Llama Guard (2 layers, d=64), {args.records} records, prompt ≈ {ntok} tokens, "
          f"torch threads={torch.get_num_threads()}, CPU (shared machine)")
    for name in names:
        t, out = results[name]
        same = sum(a.details["verdict"] == b.details["verdict"] and (
            "verdict only" in name or a.details["categories"] == b.details["categories"]) for a, b in zip(base_out, out))
        unsafe = sum(j.details["verdict"] == "unsafe" for j in out)
        print(f"  {name:55s} {t:7.3f} s  {args.records / t:8.1f} rec/s  unsafe={unsafe:3d}  "
              f"same verdict+categories as logits: {same}/{args.records}")
    quick = results[names[1]][0]
    for name in names[2:]:
        print(f"  '{name}' / logits with categories: {results[name][0] / base_t:5.1f}x;  "
              f"/ logits verdict only: {results[name][0] / quick:5.1f}x")


if __name__ == "__main__":
    main()
