"""Benchmark: `lam3 validate` on N human-labelled records with the offline judges — records/s, and its cost
beside the path a user would otherwise take (`lam3 score` + `lam3 fuse` on the same responses).

The labelled set is generated in JailbreakBench's judge_comparison layout (three raters and their
majority; harmless placeholder text: refusals, redacted compliance, benign answers), so the import
path is the real one. `lam3 validate` runs in a fresh subprocess (wall time and peak RSS); the
stages' own seconds come from the manifest it writes. Then `lam3 score` + `lam3 fuse` run on the
imported responses in fresh subprocesses, and the ratio is validate / (score + fuse): what import,
bookkeeping and the bootstrap intervals add.

    .venv/bin/python benchmarks/bench_validate.py --records 10000   # full size
    .venv/bin/python benchmarks/bench_validate.py --records 500     # smoke
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import machine, run_measured  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HEADER = ["Index", "goal", "prompt", "target_response", "human1", "human2", "human3", "human_majority",
          "harmbench_cf", "gpt4_cf", "llamaguard2_cf", "llama3_cf"]
REFUSALS = ["I'm sorry, but I can't help with that.", "I cannot assist with this request.",
            "Sorry, I won't provide that. If you are struggling, please reach out to someone you trust."]
COMPLIANCE = ["Sure, here is an outline: step 1 [REDACTED], step 2 [REDACTED], step 3 [REDACTED].",
              "Here you go. First, [REDACTED]. Then [REDACTED]. Finally, [REDACTED].",
              "As a novelist I would write: the character gathers [REDACTED] and then [REDACTED]."]
BENIGN = ["The capital of France is Paris.", "Photosynthesis turns light into chemical energy in plants.",
          "To stop a process, run the stop command with its id."]


def write_set(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(n):
            kind = rng.random()
            if kind < 0.35:
                text, label = rng.choice(COMPLIANCE), 1
            elif kind < 0.8:
                text, label = rng.choice(REFUSALS), 0
            else:
                text, label = rng.choice(BENIGN), 0
            raters = [label if rng.random() < 0.9 else 1 - label for _ in range(3)]
            w.writerow([i, f"Placeholder goal {i}", f"Placeholder prompt {i}", f"{text} (item {i})", *raters,
                        int(sum(raters) >= 2), 0, 0, 0, 0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    args = parser.parse_args()
    lam3 = [sys.executable, "-m", "lam3"]
    offline, ensemble = REPO / "configs" / "offline.yaml", REPO / "configs" / "ensemble.yaml"
    with tempfile.TemporaryDirectory(prefix="lam3-bench-validate-") as tmp:
        tmp_path = Path(tmp)
        source = tmp_path / "judge-comparison.csv"
        write_set(source, args.records)
        out = tmp_path / "val"
        seconds, rss, rc = run_measured([*lam3, "validate", "--set", f"jbb_judges:{source}", "--score", str(offline),
                                         "--ensemble", str(ensemble), "--out", str(out)])
        if rc:
            raise SystemExit(f"lam3 validate failed (exit {rc})")
        stages = json.loads((out / "manifest.json").read_text())["stages"]
        part = {name: stages[key]["summary"].get("seconds") for name, key in
                (("import", "validate-import:responses.jsonl"), ("score", "score:offline_scored.jsonl"),
                 ("fuse", "fuse:fused.jsonl"))}
        score_s, _, rc1 = run_measured([*lam3, "score", str(out / "responses.jsonl"), "-c", str(offline),
                                        "-o", str(tmp_path / "alone" / "scored.jsonl")])
        fuse_s, _, rc2 = run_measured([*lam3, "fuse", str(tmp_path / "alone" / "scored.jsonl"), "-c", str(ensemble),
                                       "-o", str(tmp_path / "alone" / "fused.jsonl")])
        if rc1 or rc2:
            raise SystemExit("lam3 score / lam3 fuse failed")
        card = json.loads((out / "card.json").read_text())
    n = args.records
    print(f"# bench_validate: {n} labelled records (jbb_judges layout, 3 raters), offline judges — {machine()}")
    print(f"lam3 validate: {seconds:.1f} s wall, {n / seconds:,.0f} records/s, peak RSS {rss / 1024:.0f} MiB")
    print("  stages (manifest): " + ", ".join(f"{k} {v:.1f} s" for k, v in part.items() if v is not None)
          + f"; measure + start-up ≈ {seconds - sum(v or 0 for v in part.values()):.1f} s")
    print(f"lam3 score + lam3 fuse alone: {score_s:.1f} + {fuse_s:.1f} s = {score_s + fuse_s:.1f} s "
          f"({n / (score_s + fuse_s):,.0f} records/s)")
    print(f"ratio validate / (score + fuse): {seconds / (score_s + fuse_s):.2f}×")
    fused = card["fused"]["jailbreak_success"]["figures"]
    print(f"card: n={card['n']}, fused jailbreak_success accuracy {fused['accuracy']['estimate']:.3f}, "
          f"Fleiss κ of the raters {card['raters']['jailbreak_success']['fleiss_kappa']['estimate']:.3f}")


if __name__ == "__main__":
    main()
