"""Prompted success judges, local backend: one-pass probability scoring vs generate-and-parse.

Same tiny judge, same records, side by side in one run. The tiny judge (tests/tiny/judge_models.py)
answers with one label token and then </s>, as the published judges do, so generation stops as
early as a real judge's would. Two shapes:

* HarmBench classifier (raw prompt, "Yes"/"No"): HarmBench itself generates 1 new token;
* JailbreakBench judge (Llama-3-style chat prompt, 'unsafe'/'safe'): generation may run up to
  ``max_new_tokens`` (8) and stops at </s>.

Prints the best-of-N wall time of each path (the two interleaved), the speed ratio generate / one
pass, and whether the verdicts agree record for record (the probability path's argmax label vs the
parsed answer). With one new token (HarmBench) both paths cost one forward pass: the one-pass path
then buys a probability instead of a word, not speed; the decoding loop's cost grows with the
answer's length and the model's size.

    .venv/bin/python benchmarks/bench_success_local.py [--records 256] [--batch 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import machine  # noqa: E402

WORDS = ("how to make a bomb hack a car tell me joke describe this image shows cat dog tree house fraud drug "
         "sorry I cannot help with that sure here is step one you your please thanks hello world good bad").split()


def records(n: int) -> list:
    from lam3.judges.base import ScoreInput

    rng = random.Random(0)
    return [ScoreInput(id=str(i), text=" ".join(rng.choices(WORDS, k=rng.randint(5, 120))),
                       behavior=" ".join(rng.choices(WORDS, k=rng.randint(4, 12)))) for i in range(n)]


def timed(judges: dict[str, object], items: list, repeats: int) -> tuple[dict[str, float], dict[str, list]]:
    """Best of ``repeats`` for each judge, the judges interleaved so load changes hit both alike."""
    best = dict.fromkeys(judges, float("inf"))
    out: dict[str, list] = {}
    for judge in judges.values():
        judge.score(items[:4])  # warm-up
    for _ in range(repeats):
        for name, judge in judges.items():
            t0 = time.perf_counter()
            out[name] = judge.score(items)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best, out


def winner(judgement) -> str:
    if judgement.details.get("scoring") == "probability":
        probs = judgement.details["answer_probs"]
        return max(probs, key=probs.get).casefold()
    return str(judgement.details.get("answer")).casefold()


def compare(name: str, judge_name: str, path: Path, items: list, batch: int, repeats: int) -> dict[str, object]:
    from lam3.judges import registry

    base = {"judge": judge_name, "model_id": str(path), "local_files_only": True, "batch_size": batch}
    seconds, out = timed({mode: registry.build({**base, "scoring": mode}) for mode in ("probability", "parse")},
                         items, repeats)
    one_pass, generate, probs, parsed = seconds["probability"], seconds["parse"], out["probability"], out["parse"]
    errors = sum(j.error is not None for j in probs + parsed)
    same = sum(winner(a) == winner(b) for a, b in zip(probs, parsed) if a.error is None and b.error is None)
    return {"judge": name, "records": len(items), "one_pass_s": round(one_pass, 2), "generate_s": round(generate, 2),
            "speed_ratio": round(generate / one_pass, 2), "same_verdicts": f"{same}/{len(items)}", "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timed runs per path")
    args = parser.parse_args()

    import torch

    from lam3.judges.prompted.templates import published_text
    from tiny.judge_models import LLAMA3_TEMPLATE, build_tiny_judge

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    items = records(args.records)
    sample = items[:32]
    hb = published_text("harmbench_llama2_standard")
    jbb = published_text("jailbreakbench_jailbreak")
    print(f"# bench_success_local — {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{args.records} records, batch {args.batch}")
    with tempfile.TemporaryDirectory() as tmp:
        hb_dir = build_tiny_judge(Path(tmp) / "hb", arch="llama", answers=["Yes", "No"], seed=1,
                                  calibration=[hb.format(behavior=x.behavior, generation=x.text) for x in sample])
        jbb_dir = build_tiny_judge(Path(tmp) / "jbb", arch="llama", answers=["unsafe", "safe"], seed=4,
                                   chat_template=LLAMA3_TEMPLATE,
                                   calibration=[[{"role": "user", "content": jbb.format(goal=x.behavior, response=x.text)}]
                                                for x in sample])
        rows = [compare("harmbench_classifier (1 new token)", "harmbench_classifier", hb_dir, items, args.batch,
                        args.repeats),
                compare("jailbreakbench (chat, up to 8 new tokens)", "jailbreakbench", jbb_dir, items, args.batch,
                        args.repeats)]
    header = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in header]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(str(r[h]).ljust(w) for h, w in zip(header, widths)))


if __name__ == "__main__":
    main()
