"""Local toxicity judges: batched judge vs one text at a time, and judge overhead vs the bare model.

Model: a random BertForSequenceClassification (hidden 128, 2 layers, 4 heads, intermediate 512,
512 positions, 6 labels) with a WordPiece tokenizer, saved and loaded through the real
``from_pretrained`` path. Data: 1,000 texts, twice: "mixed" = 1-400 words (log-uniform, so mostly
short with a long tail, like model responses), and "short" = 1-40 words (refusals, one-liners).

Figures (all measured in this one run, same model object, same CPU threads):
  * batched judge (``score`` on all texts, batch_size 32, length-sorted) vs a loop calling
    ``score([text])`` per text - goal >= 5x;
  * batched judge vs the bare forward passes it makes (same sorted, pre-tokenised, pre-padded
    batches; tensors built outside the timer) - goal <= 1.15x;
  * the bare model on input-order batches, to show what length sorting saves in padding;
  * the seed's way, a transformers ``pipeline`` called once per text (sigmoid, all labels).

Timing uses one CPU thread by default (LAM3_BENCH_THREADS=N to change): on a shared machine,
several torch threads competing with other jobs make timings swing by 2-10x. Each figure is
the best of REPEATS interleaved runs (the loop: one run), the usual choice on a noisy machine.

Run: .venv/bin/python benchmarks/bench_toxicity_local.py [--texts 1000] [--repeats 5]   (a minute or two on one core)
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

N_TEXTS, BATCH, REPEATS = 1000, 32, 5
WORDS = ("the cat is a dog you idiot stupid hate kill bomb hello world please thanks good bad tree house "
         "how make build safe unsafe sorry sure here step this image shows describe tell me what about").split()


def texts(n: int, longest: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=int(math.exp(rng.uniform(0, math.log(longest)))))) for _ in range(n)]


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(name: str, judge, data: list[str], pipe=None) -> None:
    """Time the judge, the bare model on the same batches, and the per-text loops; print the figures."""
    import torch

    from lam3.judges.base import ScoreInput

    items = [ScoreInput(id=str(i), text=t) for i, t in enumerate(data)]
    clf = judge.classifier
    judge.score(items[:BATCH])  # warm-up
    # the bare model: same truncation, same length-sorted batches, padding done before timing
    tok, model = clf.tokenizer, clf.model
    enc = tok(data, truncation=True, max_length=clf.max_tokens)
    lengths = [len(x) for x in enc["input_ids"]]

    def padded(order: list[int]) -> list[dict[str, torch.Tensor]]:
        return [dict(tok.pad({k: [enc[k][i] for i in order[s:s + BATCH]] for k in enc.keys()},
                             padding_side="right", return_tensors="pt"))
                for s in range(0, len(order), BATCH)]

    sorted_batches = padded(sorted(range(len(data)), key=lambda i: -lengths[i]))
    input_order_batches = padded(list(range(len(data))))

    def bare(batches: list[dict[str, torch.Tensor]]) -> None:
        with torch.inference_mode():
            for b in batches:
                torch.sigmoid(model(**b).logits)

    provider_s, bare_s, unsorted_s = [], [], []
    for _ in range(REPEATS):  # interleaved, so load from other users of the machine hits all alike
        bare_s.append(timed(lambda: bare(sorted_batches)))
        provider_s.append(timed(lambda: judge.score(items)))
        unsorted_s.append(timed(lambda: bare(input_order_batches)))
    loop_s = timed(lambda: [judge.score([item]) for item in items])
    pipe_s = timed(lambda: [pipe(t, truncation=True) for t in data]) if pipe is not None else None

    judge, raw, unsorted = (min(x) for x in (provider_s, bare_s, unsorted_s))
    pad_sorted = sum(b["input_ids"].numel() for b in sorted_batches)
    pad_input = sum(b["input_ids"].numel() for b in input_order_batches)
    print(f"\n[{name}] {len(data)} texts, {min(lengths)}-{max(lengths)} tokens (mean {statistics.mean(lengths):.0f}, "
          f"total {sum(lengths)}); batch_size {BATCH}; best of {REPEATS} runs (per-text loops: 1 run)")
    if pipe_s is not None:
        print(f"  seed: pipeline per text   : {pipe_s:7.3f} s  ({len(data) / pipe_s:7.1f} texts/s)")
    print(f"  judge, one text a call : {loop_s:7.3f} s  ({len(data) / loop_s:7.1f} texts/s)")
    print(f"  judge, batched         : {judge:7.3f} s  ({len(data) / judge:7.1f} texts/s)")
    print(f"  bare forward, sorted      : {raw:7.3f} s  (padded tokens {pad_sorted})")
    print(f"  bare forward, input order : {unsorted:7.3f} s  (padded tokens {pad_input})")
    print(f"  speed-up batched vs one text a call : {loop_s / judge:5.2f}x  (goal >= 5x)")
    if pipe_s is not None:
        print(f"  speed-up batched vs seed pipeline   : {pipe_s / judge:5.2f}x")
    print(f"  judge / bare forward             : {judge / raw:5.3f}x  (goal <= 1.15x)")
    print(f"  length sorting gain (bare model)    : {unsorted / raw:5.2f}x")


def main() -> None:
    global REPEATS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=N_TEXTS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args()
    REPEATS = args.repeats
    import torch

    torch.set_num_threads(int(os.environ.get("LAM3_BENCH_THREADS", "1")))
    from transformers import pipeline

    from lam3.judges.hf_classifier import HFClassifierConfig, HFClassifierJudge
    from tiny.bert import build_bert_classifier

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_bert_classifier(Path(tmp) / "bert", hidden=128, layers=2, heads=4, intermediate=512,
                                       positions=512)
        judge = HFClassifierJudge(HFClassifierConfig(model_id=str(folder), device_map="cpu", batch_size=BATCH))
        pipe = pipeline("text-classification", model=str(folder), device="cpu", top_k=None,
                        function_to_apply="sigmoid")
        pipe("warm up", truncation=True)
        print(f"model: BertForSequenceClassification hidden=128 layers=2 heads=4 intermediate=512 "
              f"positions=512, 6 labels; torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s); "
              f"judge hf_classifier (detoxify runs the same loop)")
        measure("mixed 1-400 words", judge, texts(args.texts, 400), pipe)
        measure("short 1-40 words", judge, texts(args.texts, 40, seed=1))


if __name__ == "__main__":
    main()
