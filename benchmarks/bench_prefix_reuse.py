"""Shared-prefix reuse vs the plain batched forward: Llama Guard 2's real prompt on the tiny guard.

Both paths run side by side in one process on the same forward batches (the judge's own: records
sorted by prompt length, ``--batch`` per forward pass, left padded, the LG2 chat template):

* **forward**: ``lam3.judges.local.last_step`` with and without ``prefix_cache``: the number the
  option changes (the task and category block once per batch, then each row's own tokens);
* **judge**: the whole ``llama_guard`` ``score()`` (logits mode, verdict only), which also renders
  the chat template and tokenizes every record: the share of time the forward pass is.

For each response length it prints the share of prompt tokens the batches shared, best-of-N wall
times, the speed-ups, and the error of each path's P(unsafe) against the same model in float64: the
reuse errs by the same order as the plain float32 forward (~1e-5 on the tiny guard, whose logits
are steep by construction).

The goal (issue 17): ≥ 2× where the shared prefix is ≥ 60 % of the tokens. The test's tiny guard
(2 layers, d = 64) costs almost nothing per token, so Python and kernel overhead hide part of the
gain; ``--hidden 512 --layers 4`` builds the same guard wider, closer to a real model's cost per token.

    .venv/bin/python benchmarks/bench_prefix_reuse.py                                 # smoke: 64 records
    .venv/bin/python benchmarks/bench_prefix_reuse.py --records 512 --repeats 5 --hidden 512 --layers 4 --batch 32
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _util import machine, placeholder_records  # noqa: E402


def records(n: int, response_words: int):
    from lam3.judges.base import ScoreInput

    rows = placeholder_records(n, response_words=(max(1, response_words // 2), response_words))
    return [ScoreInput(id=r["id"], prompt=r["prompt"], text=r["response"]) for r in rows]


def best(call, repeats: int):
    call()  # warm-up
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - t0)
    return min(times), out


def forward_batches(judge, items, size: int):
    """The judge's own forward batches: prompts sorted by length, left padded, encoded as it encodes them."""
    texts = sorted((judge.build_prompt(i.prompt, i.text) + judge.VARIANT.answer_prefix for i in items),
                   key=lambda t: len(judge.tokenizer(t, add_special_tokens=False)["input_ids"]))
    return [judge._encode(texts[k:k + size], None) for k in range(0, len(texts), size)]


def p_unsafe(judge, batches, prefix_cache: bool):
    import torch

    from lam3.judges.local import last_step

    out = [torch.softmax(last_step(judge.model, enc, prefix_cache=prefix_cache, pad_id=judge.tokenizer.pad_token_id)
                         .logits.double(), -1)[:, judge.unsafe_id] for enc in batches]
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16, help="records per forward pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--response-words", type=int, nargs="+", default=[8, 30, 90])
    parser.add_argument("--hidden", type=int, default=64, help="guard width (the tests' tiny guard: 64)")
    parser.add_argument("--layers", type=int, default=2, help="guard depth (the tests' tiny guard: 2)")
    args = parser.parse_args()

    import torch

    from lam3.judges import registry
    from tiny.llama_guard import build_tiny_llama_guard

    print(f"# bench_prefix_reuse — {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"guard d={args.hidden} x {args.layers} layers; {args.records} records, batch {args.batch}, "
          f"best of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_llama_guard(Path(tmp) / "guard", hidden=args.hidden, layers=args.layers)

        def judge(prefix_cache: bool):
            return registry.build({"judge": "llama_guard", "model_id": str(path), "local_files_only": True,
                                   "batch_size": args.batch, "categories": False, "prefix_cache": prefix_cache})

        reuse, plain, exact = judge(True), judge(False), judge(False)
        exact.model.double()
        print(f"{'resp. words':>11} {'tokens':>7} {'shared':>7} {'share':>6} | {'forward plain':>13} {'reuse':>7} "
              f"{'speed-up':>8} | {'judge plain':>11} {'reuse':>7} {'speed-up':>8} | {'|dP| plain':>10} "
              f"{'reuse':>8}")
        for words in args.response_words:
            items = records(args.records, words)
            batches = forward_batches(plain, items, args.batch)
            f_plain, _ = best(lambda: p_unsafe(plain, batches, False), args.repeats)
            f_reuse, _ = best(lambda: p_unsafe(reuse, batches, True), args.repeats)
            j_plain, _ = best(lambda: plain.score(items), args.repeats)
            j_reuse, out = best(lambda: reuse.score(items), args.repeats)
            truth = p_unsafe(exact, batches, False)
            err_plain = float((p_unsafe(plain, batches, False) - truth).abs().max())
            err_reuse = float((p_unsafe(reuse, batches, True) - truth).abs().max())
            tokens = sum(int(enc["attention_mask"].sum()) for enc in batches)
            shared = [j.details["shared_prefix_tokens"] for j in out]
            share = sum(shared) / tokens
            print(f"{words:>11} {tokens / len(items):>7.1f} {sum(shared) / len(shared):>7.1f} {share:>6.0%} | "
                  f"{f_plain:>12.3f}s {f_reuse:>6.3f}s {f_plain / f_reuse:>7.2f}x | {j_plain:>10.3f}s {j_reuse:>6.3f}s "
                  f"{j_plain / j_reuse:>7.2f}x | {err_plain:>10.1e} {err_reuse:>8.1e}")
    print("goal: forward >= 2x where the share is >= 60 %; the reuse as close to float64 as the plain path")


if __name__ == "__main__":
    main()
