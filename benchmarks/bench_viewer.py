"""Benchmark: `lam3 view` at 100 000 responses — index build, then server time per page over HTTP.

Claims checked (goal ≤ 200 ms each, median of several requests, measured by an HTTP client
against a running `lam3 view` subprocess on 127.0.0.1):

- the first page, a filtered page (verdict + attack + judges split) and a full-text search;
- also shown: a page sorted by one judge's score, the last page, the side-by-side view and one
  record's detail;
- side by side in the same run, the path a user would otherwise take: streaming ``fused.jsonl``
  with ``json.loads`` to answer the same filter and search (ratio = scan / viewer);
- index build time, and its peak RSS at n/10 and at n (streaming: it should not grow with n).

Fixture: synthetic responses derived from the mini benchmark (:mod:`lam3.testing.synthetic`),
scored and fused by the real ``lam3 score`` and ``lam3 fuse`` (offline judges, two keyword judges
for policy risk so that some responses are disputed). ``--replicate`` instead runs the stages on
n/100 responses and replicates the fused lines with new ids (quicker; texts repeat more).

    .venv/bin/python benchmarks/bench_viewer.py                  # 100 000 responses (full size)
    .venv/bin/python benchmarks/bench_viewer.py --n 10000        # smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _util import machine, run_measured  # noqa: E402

from lam3.testing.view_process import running_viewer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCORE_CONFIG = REPO / "tests" / "viewer" / "score_two_risk_judges.yaml"
ENSEMBLE_CONFIG = REPO / "tests" / "viewer" / "ensemble_human_review.yaml"
FILTER = {"verdict": "policy_risk:flagged", "attack": "figstep", "disagree": "any"}
SEARCH = {"q": "lighthouse cobalt"}


def lam3(*args: object) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lam3", *map(str, args)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def make_run(run: Path, n: int, replicate: bool) -> dict[str, float]:
    """A run directory with response.jsonl, offline_scored.jsonl and fused.jsonl of n responses."""
    from lam3.testing.synthetic import copy_images, replicate_fused, write_responses

    run.mkdir(parents=True)
    copy_images(run)
    staged = max(1000, n // 100) if replicate else n
    write_responses(run / "response.jsonl", staged)
    times = {"score_s": lam3("score", run / "response.jsonl", "-c", SCORE_CONFIG, "-o", run / "offline_scored.jsonl"),
             "fuse_s": lam3("fuse", run / "offline_scored.jsonl", "-c", ENSEMBLE_CONFIG, "-o", run / "fused.jsonl")}
    if replicate:
        replicate_fused(run / "fused.jsonl", n)
    return times


def build_measured(fused: Path, dest: Path) -> tuple[float, int]:
    code = ("import sys, time; from pathlib import Path; from lam3.report.viewer.index import build_index; "
            "build_index(Path(sys.argv[1]), Path(sys.argv[2]))")
    seconds, rss_kib, rc = run_measured([sys.executable, "-c", code, str(fused), str(dest)])
    assert rc == 0
    return seconds, rss_kib


def median_ms(client: httpx.Client, path: str, params: dict, repeats: int) -> tuple[float, int]:
    r = client.get(path, params=params)  # warm-up (SQLite page cache, thread pool)
    r.raise_for_status()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = client.get(path, params=params)
        times.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    body = r.json()
    return statistics.median(times), body.get("total", 1)


def scan_ms(fused: Path, params: dict) -> float:
    """The path without the viewer: stream fused.jsonl and test every record."""
    words = params.get("q", "").split()
    t0 = time.perf_counter()
    hits = 0
    with open(fused, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if words:
                text = " ".join(str(rec.get(k) or "") for k in ("prompt", "response", "behavior")).lower()
                ok = all(w in text for w in words)
            else:
                ok = (rec["policy_risk"]["flagged"] is True and rec.get("attack") == "figstep"
                      and any(rec[m]["disagreement"] for m in ("social_toxicity", "policy_risk", "refusal")))
            hits += ok
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--replicate", action="store_true", help="replicate fused lines instead of scoring all n")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-viewer-", dir=args.workdir) as tmp:
        run = Path(tmp) / "run"
        stages = make_run(run, args.n, args.replicate)
        fused = run / "fused.jsonl"
        small = Path(tmp) / "small.jsonl"
        with open(fused, encoding="utf-8") as src, open(small, "w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i >= args.n // 10:
                    break
                dst.write(line)
        small_s, small_rss = build_measured(small, Path(tmp) / "small.sqlite")
        build_s, build_rss = build_measured(fused, run / ".fused.view.sqlite")
        with running_viewer(run, timeout=1800) as (url, _), httpx.Client(base_url=url, timeout=60) as client:
            info = client.get("/api/runs").json()["runs"][0]
            judge = next(j["col"] for j in info["judges"] if j["judge"] == "keyword_risk_strict")
            pages = -(-info["records"] // 50)
            rows = f"/api/runs/{info['key']}/rows"
            cases = [("first page", rows, {}), ("filtered page", rows, FILTER), ("search", rows, SEARCH),
                     ("sorted by a judge", rows, {"sort": judge, "order": "desc"}),
                     ("last page", rows, {"page": pages}),
                     ("side by side", "/api/compare", {"left": info["key"], "right": info["key"],
                                                       "left_attack": "clean", "right_attack": "figstep",
                                                       "differ": "policy_risk"}),
                     ("one record", f"/api/runs/{info['key']}/records/{info['records'] // 2}", {})]
            results = [(name, *median_ms(client, path, params, args.repeats)) for name, path, params in cases]
        scans = {"filtered page": scan_ms(fused, FILTER), "search": scan_ms(fused, SEARCH)}
    how = "replicated fused lines" if args.replicate else "real score + fuse"
    print(f"bench_viewer: {args.n:,} responses ({how}); {machine()}")
    print(f"  stages: score {stages['score_s']:.1f}s, fuse {stages['fuse_s']:.1f}s")
    print(f"  index build: {build_s:.1f}s, peak RSS {build_rss / 1024:.0f} MiB "
          f"(at n/10: {small_s:.1f}s, {small_rss / 1024:.0f} MiB; ratio {build_rss / small_rss:.2f})")
    print(f"  server time over HTTP, median of {args.repeats} (goal ≤ 200 ms for the first three):")
    for name, ms, total in results:
        ratio = (f"   vs streaming fused.jsonl {scans[name]:.0f} ms ({scans[name] / ms:.0f}× slower)"
                 if name in scans else "")
        print(f"    {name:<18} {ms:7.1f} ms  ({total:,} matches){ratio}")


if __name__ == "__main__":
    main()
