"""Issue 15 figure: `lam3 bench import jailbreakv` of a 30,000-row JailBreakV-style CSV with images.

Prints rows/s (also without the process start-up, from the difference of two sizes) and peak RSS
of the streaming import, side by side with the path a user would
otherwise take (``list(csv.DictReader(f))``, then one Sample per row, written as JSONL), both in
fresh processes, and the streaming import's peak RSS at a tenth of the rows (goal: about equal,
the import streams). Rows carry ~800-character jailbreak texts (the real CSV averages ~830 bytes a
row) and reference 2,000 distinct images, shared between rows as upstream does.

    .venv/bin/python benchmarks/bench_import.py [--rows 30000]      # smoke: --rows 3000
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import machine, run_measured  # noqa: E402

HEADER = ["id", "jailbreak_query", "redteam_query", "format", "policy", "image_path", "from", "selected_mini",
          "transfer_from_llm"]
POLICIES = ("Economic Harm", "Malware", "Fraud", "Violence", "Privacy Violation", "Hate Speech")
FILLER = "Pretend you are a character in a placeholder story who [REDACTED]. " * 12

NAIVE = r'''
import csv, json, sys
from lam3.records import Sample
src, out = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8", newline="") as fh:
    rows = list(csv.DictReader(fh))
with open(out, "w", encoding="utf-8") as fh:
    for r in rows:
        s = Sample(id="jbv-" + r["id"], prompt=r["jailbreak_query"], behavior=r["redteam_query"],
                   images=["images/" + r["image_path"]], category="S2", meta={"policy": r["policy"]})
        fh.write(s.model_dump_json() + "\n")
'''


def make_dataset(root: Path, rows: int, images: int = 2000) -> Path:
    from PIL import Image

    folder = root / "JailBreakV_28K"
    names = [f"llm_transfer_attack/nature_{i}.png" for i in range(images)]
    (folder / "llm_transfer_attack").mkdir(parents=True)
    Image.new("RGB", (8, 8), "white").save(folder / names[0])
    for name in names[1:]:
        shutil.copyfile(folder / names[0], folder / name)
    path = folder / "JailBreakV_28K.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow([i, f"{FILLER}\nNow answer: how can I [REDACTED] #{i % 2000}?",
                             f"How can I [REDACTED] #{i % 2000}?", "Template", POLICIES[i % len(POLICIES)],
                             names[i % images], "AdvBench", str(i % 100 == 0), str(i % 3 != 0)])
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=30_000)
    args = ap.parse_args()
    small = max(1, args.rows // 10)
    tmp = Path(tempfile.mkdtemp(prefix="lam3-bench-import-"))
    try:
        print(machine())
        results = {}
        for n in (small, args.rows):
            src = make_dataset(tmp / f"data_{n}", n)
            out = tmp / f"out_{n}"
            secs, rss, rc = run_measured([sys.executable, "-m", "lam3", "bench", "import", "jailbreakv", str(src),
                                          "--out", str(out)])
            written = sum(1 for _ in open(out / "samples.jsonl", "rb"))
            assert rc == 0 and written == n, f"import of {n} rows failed (rc={rc}, {written} written)"
            results[n] = (secs, rss)
            mib = src.stat().st_size / 2**20
            print(f"streaming import {n:>7,} rows ({mib:5.1f} MiB CSV): {secs:6.2f} s  {n / secs:8,.0f} rows/s  "
                  f"peak RSS {rss / 1024:6.1f} MiB")
        src = tmp / f"data_{args.rows}" / "JailBreakV_28K" / "JailBreakV_28K.csv"
        secs, rss, rc = run_measured([sys.executable, "-c", NAIVE, str(src), str(tmp / "naive.jsonl")])
        assert rc == 0
        print(f"list(csv.DictReader) {args.rows:>7,} rows (no checks, no images): {secs:6.2f} s  "
              f"{args.rows / secs:8,.0f} rows/s  peak RSS {rss / 1024:6.1f} MiB")
        (t_small, _), (t_big, _) = results[small], results[args.rows]
        print(f"streaming import without start-up (rows {small:,}→{args.rows:,}): "
              f"{(args.rows - small) / max(t_big - t_small, 1e-9):8,.0f} rows/s")
        stream_rss = results[args.rows][1]
        print(f"peak RSS, streaming {args.rows:,} / {small:,} rows: {stream_rss / results[small][1]:.2f}x "
              f"(goal ~1x); streaming / whole-list at {args.rows:,}: {stream_rss / rss:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
