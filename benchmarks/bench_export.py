"""Issue 15 figure: `lam3 export parquet` of 100,000 fused records vs the same flat table as JSONL.

The fused records are made by the real stages (lam3 score with configs/offline.yaml, then lam3 fuse
with configs/ensemble.yaml) on ``--n`` responses: the mini bench's, each with its text replaced by
40 words drawn (seeded) from the mini bench's own vocabulary, so no two rows share a text and the
Parquet compression is not flattered by repeats. Prints, side by
side in one process: write time and size of the Parquet file and of the same rows as JSONL, and how
long a pandas user waits to load each (``pandas.read_parquet`` vs ``pandas.read_json(lines=True)``).

    .venv/bin/python benchmarks/bench_export.py [--n 100000]        # smoke: --n 10000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import machine  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def make_run(run: Path, n: int) -> None:
    import random

    from lam3.pipeline.fuse import fuse_files
    from lam3.pipeline.score import score_file

    run.mkdir(parents=True)
    base = [json.loads(line) for line in (REPO / "data" / "mini_bench" / "responses.jsonl").read_text().splitlines()]
    words = sorted({w for rec in base for w in rec["response"].split()})
    rng = random.Random(0)
    with open(run / "response.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            rec = dict(base[i % len(base)], id=f"r{i:07d}", response=" ".join(rng.choices(words, k=40)))
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
    score_file(run / "response.jsonl", REPO / "configs" / "offline.yaml", run / "scored.jsonl")
    fuse_files([run / "scored.jsonl"], REPO / "configs" / "ensemble.yaml", run / "fused.jsonl")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    import pandas as pd

    from lam3.export.parquet import export_parquet, flat_row
    from lam3.export.run import Run

    tmp = Path(tempfile.mkdtemp(prefix="lam3-bench-export-"))
    try:
        run = tmp / "run"
        make_run(run, args.n)
        print(machine())
        print(f"{args.n:,} fused records, fused.jsonl {(run / 'fused.jsonl').stat().st_size / 2**20:.1f} MiB")
        t = time.perf_counter()
        export_parquet(Run(run), tmp / "fused.parquet")
        t_pq = time.perf_counter() - t
        t = time.perf_counter()
        with open(tmp / "flat.jsonl", "w", encoding="utf-8") as fh:
            for rec in Run(run).fused():
                fh.write(json.dumps(flat_row(rec), ensure_ascii=False) + "\n")
        t_js = time.perf_counter() - t
        s_pq, s_js = (tmp / "fused.parquet").stat().st_size, (tmp / "flat.jsonl").stat().st_size
        t = time.perf_counter()
        df_pq = pd.read_parquet(tmp / "fused.parquet")
        r_pq = time.perf_counter() - t
        t = time.perf_counter()
        df_js = pd.read_json(tmp / "flat.jsonl", lines=True)
        r_js = time.perf_counter() - t
        assert len(df_pq) == len(df_js) == args.n
        print(f"write  Parquet {t_pq:6.2f} s ({args.n / t_pq:8,.0f} rec/s)  {s_pq / 2**20:6.1f} MiB")
        print(f"write  JSONL   {t_js:6.2f} s ({args.n / t_js:8,.0f} rec/s)  {s_js / 2**20:6.1f} MiB")
        print(f"pandas read    Parquet {r_pq:6.2f} s   JSONL {r_js:6.2f} s")
        print(f"ratios Parquet/JSONL: write time {t_pq / t_js:.2f}x, size {s_pq / s_js:.3f}x, "
              f"pandas load {r_pq / r_js:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
