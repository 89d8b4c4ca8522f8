"""What checksumming costs: `lam3 pack`/`unpack` vs. a plain tar.gz of the same run, side by side.

pack hashes every file before and while archiving (index first, then a re-hash to catch files that
change mid-pack); unpack validates members, extracts through tarfile's data filter and re-hashes
every file. Printed: seconds for each and the ratio to plain tarfile at the same gzip level (6).

    .venv/bin/python benchmarks/bench_pack.py [--records 60000]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

from lam3.pipeline.transfer import pack, unpack

N_RECORDS = 60_000  # ≈ 40 MB of JSONL across response + scored files


def make_run(root: Path, n_records: int = N_RECORDS) -> Path:
    rng = random.Random(0)
    words = [f"w{i}" for i in range(5000)]
    run = root / "bench_run"
    run.mkdir()
    with open(run / "response.jsonl", "w") as resp, open(run / "offline_scored.jsonl", "w") as scored:
        for i in range(n_records):
            rec = {"id": f"r{i}", "sample_id": f"s{i}", "prompt": " ".join(rng.choices(words, k=20)),
                   "response": " ".join(rng.choices(words, k=60)), "model_id": "m", "attack": "clean"}
            resp.write(json.dumps(rec) + "\n")
            rec["judgements"] = {"j": {"judge": "j", "scores": {"x": rng.random()}, "flagged": []}}
            scored.write(json.dumps(rec) + "\n")
    (run / "manifest.json").write_text("{}")
    return run


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=N_RECORDS, help="records per JSONL file of the run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = make_run(root, args.records)
        size = sum(p.stat().st_size for p in run.iterdir())
        plain = root / "plain.tar.gz"

        def plain_pack() -> None:
            with tarfile.open(plain, "w:gz", compresslevel=6) as tar:
                tar.add(run, arcname=run.name)

        def lam3_pack() -> None:
            pack(run, root / "bench_run.tar.gz")

        def plain_unpack() -> None:
            shutil.rmtree(root / "x", ignore_errors=True)
            with tarfile.open(plain) as tar:
                tar.extractall(root / "x", filter="data")

        def lam3_unpack() -> None:
            shutil.rmtree(root / "y", ignore_errors=True)
            unpack(root / "bench_run.tar.gz", root / "y")

        t_plain, t_pack = best_of(plain_pack), best_of(lam3_pack)
        t_plain_un, t_unpack = best_of(plain_unpack), best_of(lam3_unpack)
        print(f"run size: {size / 1e6:.1f} MB in {len(list(run.iterdir()))} files")
        print(f"pack:   plain tar.gz {t_plain:.2f} s | lam3 pack (sha256 + index + sidecar) {t_pack:.2f} s "
              f"| ratio {t_pack / t_plain:.2f}x | {size / 1e6 / t_pack:.0f} MB/s")
        print(f"unpack: plain extract {t_plain_un:.2f} s | lam3 unpack (checks + sha256 verify) {t_unpack:.2f} s "
              f"| ratio {t_unpack / t_plain_un:.2f}x | {size / 1e6 / t_unpack:.0f} MB/s")


if __name__ == "__main__":
    main()
