"""Benchmark: `lam3 report html` on a large run — wall time and peak RSS at n/10 and at n.

Claim checked: the report's memory does not grow with the number of responses beyond what its
tables need (per-cell and per-sample counts, bounded response picks, calibration bins); fused
records are streamed again for each table instead of being held. Side by side in the same run,
the path the report took before: holding every fused record in memory (``list(read_fused(…))``),
measured at the same sizes.

Fixture: synthetic responses from the mini benchmark (:mod:`lam3.testing.synthetic`, clean and
figstep per sample), scored and fused by the real ``lam3 score`` and ``lam3 fuse`` (offline
judges) on n/100 responses, whose fused lines are then replicated with new ids and sample ids
(``--no-replicate`` scores all n).

    .venv/bin/python benchmarks/bench_report_html.py                 # 100 000 responses (full size)
    .venv/bin/python benchmarks/bench_report_html.py --n 5000        # smoke run
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import machine, run_measured  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def lam3(*args: object) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lam3", *map(str, args)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def make_run(run: Path, n: int, replicate: bool) -> None:
    """A run directory with response.jsonl, offline_scored.jsonl and fused.jsonl of n responses."""
    from lam3.testing.synthetic import replicate_fused, write_responses

    run.mkdir(parents=True)
    staged = max(200, n // 100) if replicate else n
    write_responses(run / "response.jsonl", staged)
    lam3("score", run / "response.jsonl", "-c", REPO / "configs" / "offline.yaml", "-o", run / "offline_scored.jsonl")
    lam3("fuse", run / "offline_scored.jsonl", "-c", REPO / "configs" / "ensemble.yaml", "-o", run / "fused.jsonl")
    if replicate:
        replicate_fused(run / "fused.jsonl", n)


def head(run: Path, dest: Path, n: int) -> Path:
    """A run directory holding the first n lines of ``run``'s fused.jsonl (and its manifest)."""
    dest.mkdir(parents=True)
    (dest / "manifest.json").write_bytes((run / "manifest.json").read_bytes())
    with open(run / "fused.jsonl", encoding="utf-8") as src, open(dest / "fused.jsonl", "w", encoding="utf-8") as out:
        for i, line in enumerate(src):
            if i >= n:
                break
            out.write(line)
    return dest


def measured_report(run: Path) -> tuple[float, int]:
    seconds, rss, rc = run_measured([sys.executable, "-m", "lam3", "report", "html", str(run), "--out",
                                     str(run / "report.html")])
    assert rc == 0
    return seconds, rss


def measured_hold(run: Path) -> tuple[float, int]:
    code = ("import sys; from lam3.pipeline.fused_records import read_fused; "
            "records = [rec for _, rec in read_fused(sys.argv[1])]; print(len(records))")
    seconds, rss, rc = run_measured([sys.executable, "-c", code, str(run / "fused.jsonl")])
    assert rc == 0
    return seconds, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--no-replicate", action="store_true", help="score and fuse all n responses")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-", dir=args.workdir) as tmp:
        run = Path(tmp) / "run"
        make_run(run, args.n, not args.no_replicate)
        small = head(run, Path(tmp) / "small", args.n // 10)
        rows = []
        for label, path in ((f"n/10 = {args.n // 10:,}", small), (f"n = {args.n:,}", run)):
            rep_s, rep_rss = measured_report(path)
            hold_s, hold_rss = measured_hold(path)
            rows.append((label, rep_s, rep_rss, hold_s, hold_rss))
    how = "real score + fuse" if args.no_replicate else "replicated fused lines"
    print(f"bench_report_html: {args.n:,} responses ({how}); {machine()}")
    print(f"  {'size':<16} {'report html':>12} {'peak RSS':>10}   {'holding the records':>20} {'peak RSS':>10}")
    for label, rep_s, rep_rss, hold_s, hold_rss in rows:
        print(f"  {label:<16} {rep_s:>11.1f}s {rep_rss / 1024:>8.0f} MiB   {hold_s:>19.1f}s {hold_rss / 1024:>8.0f} MiB")
    (_, _, r_small, _, h_small), (_, _, r_big, _, h_big) = rows
    print(f"  RSS growth n/10 → n: report ×{r_big / r_small:.2f}, holding the records ×{h_big / h_small:.2f}")


if __name__ == "__main__":
    main()
