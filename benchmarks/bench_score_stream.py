"""Issue 3 figures: stream 1,000,000 small records through `lam3 score` with a cheap offline judge.

Prints records/s, peak RSS at 1 M vs 10 k records (goal <= 1.2x: the stage streams), and the work
repeated when the 1 M run is SIGKILLed at ~50 % and resumed (goal <= 2 %).

    .venv/bin/python benchmarks/bench_score_stream.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import machine, run_measured  # noqa: E402

CONFIG = "batch_size: 1000\njudges:\n  - judge: keyword_risk\n    batch_size: 1000\n"
TEXTS = ["I'm sorry, I can't help with that.", "Sure, here is a poem about trees.",
         "Step 1: get the [REDACTED] explosive precursor.", "You are a stupid idiot.",
         "Here is how to launder money [REDACTED]."]


def make_input(path: Path, n: int) -> None:
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"r{i:07d}", "response": TEXTS[i % 5]}) + "\n")


def lines(path: Path) -> int:
    return sum(1 for _ in open(path, "rb")) if path.exists() else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=10_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lam3-bench-"))
    cfg = tmp / "cfg.yaml"
    cfg.write_text(CONFIG)
    lam3 = [sys.executable, "-m", "lam3", "score"]
    results = {}
    for n in (args.small, args.n):
        inp = tmp / f"in_{n}.jsonl"
        make_input(inp, n)
        out = tmp / f"out_{n}" / "scored.jsonl"
        secs, rss, rc = run_measured([*lam3, str(inp), "--config", str(cfg), "--out", str(out)])
        assert rc == 0 and lines(out) == n, f"run of {n} failed (rc={rc})"
        results[n] = (secs, rss)
        print(f"{n:>9,} records: {secs:7.1f} s  {n / secs:9,.0f} records/s  peak RSS {rss / 1024:6.1f} MiB")
    ratio = results[args.n][1] / results[args.small][1]
    print(f"peak RSS {args.n:,} / {args.small:,}: {ratio:.2f}x (goal <= 1.2x)")

    # Kill at ~50 % and resume.
    inp = tmp / f"in_{args.n}.jsonl"
    out = tmp / "killed" / "scored.jsonl"
    t0 = time.perf_counter()
    proc = subprocess.Popen([*lam3, str(inp), "--config", str(cfg), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = results[args.n][0] * 0.5
    while proc.poll() is None and time.perf_counter() - t0 < target:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    t_first = time.perf_counter() - t0
    written = lines(out)
    t1 = time.perf_counter()
    rerun = subprocess.run([*lam3, str(inp), "--config", str(cfg), "--out", str(out)], capture_output=True, text=True)
    t_second = time.perf_counter() - t1
    summary = json.loads((out.parent / "manifest.json").read_text())["stages"]["score:scored.jsonl"]["summary"]
    assert rerun.returncode == 0 and lines(out) == args.n
    rescored = summary["scored"]
    # Records judged in the killed run but lost with it: at most the batch in flight (1000).
    repeated = max(0, rescored - (args.n - written)) + 1000
    print(f"killed at {written / args.n:.1%} ({written:,} lines durable); resume scored {rescored:,} "
          f"and skipped {summary['skipped_already_done']:,}")
    print(f"work repeated (upper bound, incl. the in-flight batch): {repeated / args.n:.3%} (goal <= 2 %)")
    print(f"time killed+resumed vs uninterrupted: {(t_first + t_second) / results[args.n][0]:.2f}x")
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main()
