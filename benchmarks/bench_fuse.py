"""Benchmark: `lam3 fuse` over three scored files — throughput and peak memory, small vs large.

Claim checked: fusing is streaming, so peak RSS at 1,000,000 records stays within 1.2× of
peak RSS at 10,000 records. Each size is fused in a fresh subprocess (peak RSS =
``resource.getrusage(RUSAGE_SELF).ru_maxrss``, cross-checked with /proc's VmHWM). The inputs
are generated in another subprocess, so this small parent is all a child can inherit: Linux
carries the ru_maxrss high-water mark across fork/exec. Inputs are what three separate ``lam3 score`` runs of one response file
write: profanity_check, keyword_risk and refusal judgements, in the same order (lockstep join).
``--index-n`` also measures the fallback join (one file shuffled → on-disk SQLite index).

    .venv/bin/python benchmarks/bench_fuse.py                 # 10k vs 1M, plus the index path
    .venv/bin/python benchmarks/bench_fuse.py --large 200000  # quicker
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """
judges:
  profanity_check: {judge: profanity_check}
  keyword_risk: {judge: keyword_risk}
  refusal: {judge: refusal}
policy_risk:
  arbitration: {when: spread, margin: 0.6, method: none}
"""

WORDS = ("the", "model", "answered", "with", "a", "long", "careful", "reply", "about", "safety", "[redacted]")


def _judgement(judge: str, metric: str, scores: dict[str, float]) -> dict:
    """What `lam3 score` writes for a judge (lam3.records.Judgement: probabilities, no threshold applied)."""
    return {"judge": judge, "version": "1", "metric": metric, "scores": scores, "verdict": None, "error": None,
            "latency_ms": 0.1, "details": {}}


def generate(directory: Path, n: int, seed: int = 0, shuffle_second: bool = False) -> list[Path]:
    """Three scored files over the same n responses (as three `lam3 score` runs write them)."""
    rng = random.Random(seed)
    paths = [directory / f"scored_{name}.jsonl" for name in ("tox", "risk", "refusal")]
    fhs = [open(p, "w", encoding="utf-8") for p in paths]
    second: list[str] = []
    try:
        for i in range(n):
            base = {"schema_version": 2, "id": f"resp-{i:07d}", "sample_id": f"s{i % 500}", "model_id": f"m{i % 3}",
                    "attack": ("clean", "figstep", "typographic")[i % 3], "category": f"S{1 + i % 11}",
                    "prompt": f"prompt {i % 500}", "response": " ".join(rng.choice(WORDS) for _ in range(30)),
                    "labels": {"toxic": i % 7 == 0, "risky": i % 5 == 0, "refusal": i % 4 == 0}}
            cat = f"S{1 + rng.randrange(11)}"
            lines = [
                {**base, "judgements": {"profanity_check": _judgement("profanity_check", "social_toxicity",
                                                                      {"profanity": round(rng.random(), 4)})}},
                {**base, "judgements": {"keyword_risk": _judgement("keyword_risk", "policy_risk",
                                                                   {cat: round(rng.random(), 4)})}},
                {**base, "judgements": {"refusal": _judgement("refusal", "refusal",
                                                              {"refusal": round(rng.random(), 4)})}},
            ]
            for k, (fh, rec) in enumerate(zip(fhs, lines)):
                text = json.dumps(rec) + "\n"
                if k == 1 and shuffle_second:
                    second.append(text)
                else:
                    fh.write(text)
        if shuffle_second:
            rng.shuffle(second)
            fhs[1].writelines(second)
    finally:
        for fh in fhs:
            fh.close()
    return paths


def worker(directory: Path) -> None:
    """Runs in a fresh process: fuse, then print throughput and this process's peak RSS."""
    from lam3.pipeline.fuse import fuse_files

    inputs = sorted(directory.glob("scored_*.jsonl"))
    t0 = time.perf_counter()
    summary = fuse_files(inputs, directory / "ensemble.yaml", directory / "out" / "fused.jsonl",
                         workdir=directory)
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    hwm = next((int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")), 0)
    print(json.dumps({"fused": summary.fused, "seconds": seconds, "records_per_s": summary.fused / seconds,
                      "peak_rss_mib": peak_kib / 1024, "vm_hwm_mib": hwm / 1024, "join": summary.join.mode}))


def measure(n: int, shuffle: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="lam3-bench-fuse-") as tmp:
        directory = Path(tmp)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate", str(directory), str(n), str(int(shuffle))],
                       check=True)
        gen_s = time.perf_counter() - t0
        (directory / "ensemble.yaml").write_text(CONFIG)
        proc = subprocess.run([sys.executable, __file__, "--worker", str(directory)], capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"worker failed for n={n}:\n{proc.stderr}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result.update(n=n, generate_s=gen_s)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--index-n", type=int, default=200_000,
                        help="size of the shuffled (index join) run; 0 to skip")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if args.generate:
        directory, n, shuffle = args.generate
        generate(Path(directory), int(n), shuffle_second=bool(int(shuffle)))
        return
    rows = [("lockstep", measure(args.small)), ("lockstep", measure(args.large))]
    if args.index_n:
        rows += [("index", measure(args.small, shuffle=True)), ("index", measure(args.index_n, shuffle=True))]
    print(f"{'join':<9}{'records':>10}{'records/s':>12}{'peak RSS MiB':>14}{'VmHWM MiB':>11}{'seconds':>9}")
    for label, r in rows:
        assert r["join"] == label, r
        print(f"{label:<9}{r['n']:>10}{r['records_per_s']:>12.0f}{r['peak_rss_mib']:>14.1f}{r['vm_hwm_mib']:>11.1f}"
              f"{r['seconds']:>9.1f}")
    small, large = rows[0][1], rows[1][1]
    ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
    print(f"lockstep peak RSS {large['n']:,} / {small['n']:,} records: {ratio:.3f}x (goal <= 1.2x) "
          f"{'OK' if ratio <= 1.2 else 'OVER GOAL'}")
    print(f"lockstep throughput {large['n']:,} vs {small['n']:,}: "
          f"{large['records_per_s'] / small['records_per_s']:.2f}x")
    if args.index_n:
        s, lg = rows[2][1], rows[3][1]
        print(f"index-join peak RSS {lg['n']:,} / {s['n']:,} records: {lg['peak_rss_mib'] / s['peak_rss_mib']:.3f}x; "
              f"throughput vs lockstep at {s['n']:,}: {s['records_per_s'] / small['records_per_s']:.2f}x")
    print("(shared 2-core machine with other engineers' jobs running: absolute rates are noisy; "
          "ratios were measured in one run)")


if __name__ == "__main__":
    main()
