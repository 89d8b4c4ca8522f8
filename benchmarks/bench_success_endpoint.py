"""Prompted success judges, openai_compatible backend: sustained throughput against the quota, with faults.

The local fake chat server (lam3.testing.fake_chat, in its own process) enforces the quota the
client is configured with (429 + Retry-After beyond it) and injects 10 % faults: 5 % extra 429s
(Retry-After 1 s) and 5 % 5xx. The judge (jailbreakbench, through the real openai SDK) scores
N = quota × seconds × 0.9 records in one ``score()`` call and the run prints:

* steady use = requests the server saw per second / quota while records were still waiting for
  their first try (goal >= 0.97; each request holds its quota slot until 1 s after its reply, so
  the ceiling is about 1 / (1 + latency)),
* quota use  = the same over the whole run, including the drain of the last retries,
* goodput    = records judged per second / quota,
* max in 1 s = most requests the server saw in any 1-s window (must be <= quota),
* lost       = input ids with neither a judgement nor an error (must be 0); errors = records whose
  attempts ran out.

    .venv/bin/python benchmarks/bench_success_endpoint.py [--quota 20] [--seconds 15]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import machine  # noqa: E402

from lam3.judges import registry  # noqa: E402
from lam3.judges.base import ScoreInput  # noqa: E402
from lam3.testing.fake_chat import max_in_window  # noqa: E402

KEY = "bench-chat-key"
PATIENCE = {"max_concurrency": 16, "timeout_s": 10, "max_attempts": 10, "backoff_initial_s": 0.5, "backoff_max_s": 8}


def serve(quota: float, faults: dict[str, float], log: Path) -> tuple[subprocess.Popen, str]:
    args = [sys.executable, "-m", "lam3.testing.fake_chat", "--model", "judge", "--key", KEY, "--quota", str(quota),
            "--seed", "2026", "--retry-after-s", "1", "--lifetime-s", "900", "--log", str(log)]
    for name, share in faults.items():
        args += [f"--{name}", str(share)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["base_url"]


def run(name: str, quota: float, seconds: float, faults: dict[str, float], tmp: Path) -> dict[str, object]:
    n = int(quota * seconds * (1.0 - sum(faults.values())))
    log = tmp / f"{name.split()[0]}.log"
    proc, base_url = serve(quota, faults, log)
    try:
        judge = registry.build({"judge": "jailbreakbench", "backend": "openai_compatible", "base_url": base_url,
                                "model_id": "judge", "requests_per_second": quota, "batch_size": n, **PATIENCE})
        items = [ScoreInput(id=f"r{i}", text=f"record {i}: {'sorry, I cannot' if i % 5 == 0 else 'sure, step one'}",
                            behavior=f"placeholder behaviour {i}") for i in range(n)]
        t0 = time.perf_counter()
        judged = judge.score(items)
        elapsed = time.perf_counter() - t0
        judge.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    hits = [json.loads(line) for line in log.read_text().splitlines()]
    times = sorted(h["t"] for h in hits)
    first_try: dict[str, float] = {}
    for h in sorted(hits, key=lambda h: h["t"]):
        first_try.setdefault(h["text"], h["t"])
    end = max(first_try.values())
    steady = [t for t in times if t <= end]
    ok = [j for j in judged if j.error is None]
    latencies = sorted(j.latency_ms or 0.0 for j in ok)
    return {"run": name, "records": n, "seconds": round(elapsed, 2), "requests": len(hits),
            "steady_use": round((len(steady) - 1) / (end - times[0]) / quota, 3),
            "quota_use": round(len(hits) / elapsed / quota, 3), "goodput": round(len(ok) / elapsed / quota, 3),
            "max_in_1s": max_in_window(times), "errors": len(judged) - len(ok),
            "lost": n - len({item.id for item, j in zip(items, judged) if j.error is not None or j.scores}),
            "p50_ms": round(latencies[len(latencies) // 2], 1) if latencies else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quota", type=float, default=20.0, help="requests per second (client and server)")
    parser.add_argument("--seconds", type=float, default=15.0, help="target length of each run")
    args = parser.parse_args()
    os.environ["OPENAI_API_KEY"] = KEY
    import aiolimiter, openai, tenacity  # noqa: F401,E401 - warm imports so the first run is not charged for them
    print(f"# bench_success_endpoint — {machine()}; quota {args.quota:g} rps, ~{args.seconds:g} s per run; "
          "faults: 5% 429 (Retry-After 1 s) + 5% 5xx, seed 2026; server in its own process; openai "
          f"{openai.__version__}")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        rows = [run("no-faults", args.quota, args.seconds, {}, tmp),
                run("10%-faults", args.quota, args.seconds, {"server-error": 0.05, "rate-limited": 0.05}, tmp)]
    header = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in header]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(str(r[h]).ljust(w) for h, w in zip(header, widths)))
    print(f"\nsteady quota use with 10% faults: {rows[1]['steady_use']} of quota (goal >= 0.97); never above quota in "
          f"any 1 s: {all(int(r['max_in_1s']) <= args.quota for r in rows)}; lost: {sum(int(r['lost']) for r in rows)}")


if __name__ == "__main__":
    main()
