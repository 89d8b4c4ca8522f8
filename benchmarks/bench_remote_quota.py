"""Remote judges: sustained throughput against the configured quota, with injected 429/5xx.

The local fake APIs (lam3.testing.fake_apis) enforce the same quota the client is
configured with (429 + Retry-After beyond it) and inject faults: 5 % extra 429s
(Retry-After: 1 s) and 5 % 5xx. Each run scores N = quota × seconds records and
prints, side by side:

* steady use  = requests the server saw per second / quota while records were still waiting
                for their first try (how full the client keeps the pipe while some records back
                off; goal >= 0.97). Each request holds its quota slot until 1 s after its reply,
                so the ceiling is about 1 / (1 + latency): p50_ms is printed alongside,
* quota use   = the same over the whole run, including the drain at the end (the last retries),
* goodput     = records judged per second / quota (at most 1 - fault share, since every
                failed attempt spends a slot of the quota),
* max in 1 s  = most requests the server saw in any 1-s window (must be <= quota),
* lost        = input ids with neither a judgement nor an error (must be 0), errors = records
                that exhausted their attempts.

Runs: Perspective without faults (the ceiling), Perspective and OpenAI with 10 % faults
(one `score()` call: a sustained stream), and the whole `score` stage (score_file with the
default batches of 256 records per judge call: each call waits for its slowest record's
retries before the next one starts, so its figure is lower).

    .venv/bin/python benchmarks/bench_remote_quota.py [--quota 20] [--seconds 15]
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
from lam3.testing.fake_apis import Faults  # noqa: E402
from lam3.testing.http_fake import max_in_window  # noqa: E402

KEYS = {"PERSPECTIVE_API_KEY": "bench-perspective-key", "OPENAI_API_KEY": "bench-openai-key"}
FAULTS = Faults(server_error=0.05, rate_limited=0.05, retry_after_s=1.0, seed=2026)
PATIENCE = {"max_concurrency": 16, "timeout_s": 10, "max_attempts": 10, "backoff_initial_s": 0.5,
            "backoff_max_s": 8}


class ServerProcess:
    """The fake APIs in their own process (the client's timings are not shared with the server's threads)."""

    def __init__(self, quota: float, faults: Faults, log: Path) -> None:
        self.log = log
        args = [sys.executable, "-m", "lam3.testing.fake_apis", "--quota", str(quota), "--seed", str(faults.seed),
                "--server-error", str(faults.server_error), "--rate-limited", str(faults.rate_limited),
                "--perspective-key", KEYS["PERSPECTIVE_API_KEY"], "--openai-key", KEYS["OPENAI_API_KEY"],
                "--lifetime-s", "900", "--log", str(log)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = json.loads(self.proc.stdout.readline())["url"]

    def stop(self) -> list[dict[str, object]]:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def _texts(n: int) -> list[str]:
    return [f"record {i}: {'you idiot' if i % 7 == 0 else 'a calm reply'} #{i}" for i in range(n)]


def _row(name: str, quota: float, n: int, seconds: float, hits: list[dict[str, object]], api: str,
         judged: int, errors: int, lost: int, latencies: list[float]) -> dict[str, object]:
    mine = sorted((h for h in hits if h["api"] == api), key=lambda h: h["t"])
    times = [float(h["t"]) for h in mine]
    firsts: dict[object, float] = {}
    for h in mine:
        firsts.setdefault(h["text"], float(h["t"]))
    # steady state: from the first request until the last record's first try (the backlog is not empty)
    end = max(firsts.values())
    steady = [t for t in times if t <= end]
    steady_use = (len(steady) - 1) / (end - times[0]) / quota if end > times[0] else float("nan")
    latencies = sorted(latencies)
    return {"run": name, "records": n, "seconds": round(seconds, 2), "requests": len(mine),
            "steady_use": round(steady_use, 3), "quota_use": round(len(mine) / seconds / quota, 3),
            "goodput": round(judged / seconds / quota, 3), "max_in_1s": max_in_window(times), "lost": lost,
            "errors": errors, "p50_ms": round(latencies[len(latencies) // 2], 1) if latencies else None}


def run_provider(name: str, judge: str, quota: float, seconds: float, faults: Faults,
                 tmp: Path) -> dict[str, object]:
    n = int(quota * seconds * (1.0 - faults.server_error - faults.rate_limited))
    server = ServerProcess(quota, faults, tmp / f"{judge}-{faults.server_error}.log")
    try:
        where = {"endpoint": server.url} if judge == "perspective" else {"base_url": server.url + "/v1"}
        built = registry.build({"judge": judge, "requests_per_second": quota, **where, **PATIENCE,
                                "batch_size": n})
        items = [ScoreInput(id=f"r{i}", text=t) for i, t in enumerate(_texts(n))]
        t0 = time.perf_counter()
        judged = built.score(items)
        elapsed = time.perf_counter() - t0
        built.close()
    finally:
        hits = server.stop()
    ok = [j for j in judged if j.error is None]
    lost = n - len({item.id for item, _ in zip(items, judged)})
    return _row(name, quota, n, elapsed, hits, "perspective" if judge == "perspective" else "openai",
                len(ok), len(judged) - len(ok), lost, [j.latency_ms or 0.0 for j in ok])


def run_stage(name: str, quota: float, seconds: float, faults: Faults, tmp: Path) -> dict[str, object]:
    from lam3.pipeline.score import score_file

    n = int(quota * seconds * (1.0 - faults.server_error - faults.rate_limited))
    server = ServerProcess(quota, faults, tmp / "stage.log")
    try:
        src = tmp / "responses.jsonl"
        src.write_text("".join(json.dumps({"id": f"r{i}", "response": t}) + "\n" for i, t in enumerate(_texts(n))))
        config = tmp / "perspective.yaml"
        entry = {"judge": "perspective", "endpoint": server.url, "requests_per_second": quota, **PATIENCE}
        config.write_text(json.dumps({"batch_size": 256, "judges": [entry]}))  # JSON is YAML
        out = tmp / "out" / "scored.jsonl"
        t0 = time.perf_counter()
        score_file(src, config, out)
        elapsed = time.perf_counter() - t0
    finally:
        hits = server.stop()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    judgements = [r["judgements"]["perspective"] for r in rows]
    ok = [j for j in judgements if not j["error"]]
    return _row(name, quota, n, elapsed, hits, "perspective", len(ok), len(rows) - len(ok),
                n - len({r["id"] for r in rows}), [j["latency_ms"] or 0.0 for j in ok])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quota", type=float, default=20.0, help="requests per second (client and server)")
    parser.add_argument("--seconds", type=float, default=15.0, help="target length of each run")
    args = parser.parse_args()
    os.environ.update(KEYS)
    import aiolimiter, httpx, tenacity  # noqa: F401,E401 - warm imports so the first run is not charged for them
    print(f"# bench_remote_quota — {machine()}; quota {args.quota:g} rps, ~{args.seconds:g} s per run; "
          f"faults: 5% 429 (Retry-After 1 s) + 5% 5xx, seed {FAULTS.seed}; server in its own process")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        rows = [
            run_provider("perspective, no faults", "perspective", args.quota, args.seconds, Faults(), tmp),
            run_provider("perspective, 10% faults", "perspective", args.quota, args.seconds, FAULTS, tmp),
            run_provider("openai_moderation, 10% faults", "openai_moderation", args.quota, args.seconds, FAULTS,
                         tmp),
            run_stage("score stage (perspective), 10% faults", args.quota, args.seconds, FAULTS, tmp),
        ]
    header = ["run", "records", "seconds", "requests", "steady_use", "quota_use", "goodput", "max_in_1s", "lost",
              "errors", "p50_ms"]
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in header]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(str(r[h]).ljust(w) for h, w in zip(header, widths)))
    worst = min(float(r["steady_use"]) for r in rows[:3])
    print(f"\nsteady quota use (one sustained stream, worst of 3): {worst:.3f} of quota (goal >= 0.97); "
          f"never above quota in any 1 s: {all(int(r['max_in_1s']) <= args.quota for r in rows)}; "
          f"lost: {sum(int(r['lost']) for r in rows)}")


if __name__ == "__main__":
    main()
