"""``lam3 score --engine ray`` with 2 actors vs one process, on a CPU-bound tiny judge.

The judge is the tiny Llama Guard (tests/tiny/llama_guard.py; ``--hidden``/``--layers`` make it
wider so a forward pass costs real CPU), scoring N synthetic placeholder records. Side by side in
one run, both through ``lam3.pipeline.score.score_file``:

* **one process** (``engine: local``): the path a user takes without Ray; torch uses every core;
* **Ray, 2 actors** (``engine: ray``, ``ray: {actors: 2, num_cpus: 1}`` on a local 2-CPU cluster,
  started before the clock: a cluster outlives a run); the cluster's start is printed apart.

A third run, **one process with one torch thread**, is roughly what one actor does on its own, so
twice its rate is a reference for two actors: it tells how much of the speed-up comes from splitting
the work and how much from torch's threads in the one process, which help a wide model and slow a
narrow one down. (Two actors can beat it: in one process the reading, writing and tokenising share
the judge's interpreter, while the Ray driver does them apart.)

It checks that both outputs are the same line for line (latency aside) and prints two speed-ups:
end to end (Ray's actors each import torch and load the judge before the first batch: a fixed cost of
seconds), and steady state (records per second over the second half of the run, once every actor is
up: what decides a few hundred thousand records). Goal (issue 17): ≥ 1.7× on 2 cores.

    .venv/bin/python benchmarks/bench_ray_score.py                                   # smoke: 256 records
    .venv/bin/python benchmarks/bench_ray_score.py --records 4096 --write-batch 256 --hidden 256 --layers 4   # full size (also 64, 128)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _util import machine, placeholder_records, torch_and_ray, write_jsonl  # noqa: E402


def without_latency(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        for j in rec["judgements"].values():
            j["latency_ms"] = None
        out.append(rec)
    return out


def timed_run(score_file, source: Path, config: Path, out: Path, engine: str) -> tuple[float, float]:
    """(seconds end to end, steady records/s over the second half of the durable writes: every actor is up)."""
    writes: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    score_file(source, config, out, engine=engine,
               progress=lambda done, total: writes.append((time.perf_counter(), done)))
    total = time.perf_counter() - t0
    (t_mid, n_mid), (t_last, n_last) = writes[len(writes) // 2], writes[-1]
    return total, (n_last - n_mid) / (t_last - t_mid) if t_last > t_mid else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=256)
    parser.add_argument("--write-batch", type=int, default=64, help="records per durable write (one actor call)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()

    import ray
    import torch
    import yaml

    from lam3.pipeline.score import score_file
    from tiny.llama_guard import build_tiny_llama_guard

    print(f"# bench_ray_score — {machine()}; {torch_and_ray()}; "
          f"tiny guard d={args.hidden} x {args.layers} layers; "
          f"{args.records} records, {args.write_batch} per write")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        guard = build_tiny_llama_guard(tmp_path / "guard", hidden=args.hidden, layers=args.layers)
        source = tmp_path / "responses.jsonl"
        write_jsonl(source, placeholder_records(args.records))
        config = tmp_path / "score.yaml"
        config.write_text(yaml.safe_dump({"batch_size": args.write_batch, "judges": [{
            "judge": "llama_guard", "model_id": str(guard), "local_files_only": True, "batch_size": 16,
            "ray": {"actors": 2, "num_cpus": 1}}]}))

        t_local, r_local = timed_run(score_file, source, config, tmp_path / "local" / "scored.jsonl", "local")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            _, r_one = timed_run(score_file, source, config, tmp_path / "one" / "scored.jsonl", "local")
        finally:
            torch.set_num_threads(threads)
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        t_start = time.perf_counter() - t0
        try:
            t_ray, r_ray = timed_run(score_file, source, config, tmp_path / "ray" / "scored.jsonl", "ray")
        finally:
            ray.shutdown()
        same = without_latency(tmp_path / "local" / "scored.jsonl") == without_latency(
            tmp_path / "ray" / "scored.jsonl")

    print(f"{'':16} {'end to end':>10} {'steady':>12}")
    print(f"{'one process':16} {t_local:9.2f}s {r_local:8.1f} rec/s")
    print(f"{'Ray, 2 actors':16} {t_ray:9.2f}s {r_ray:8.1f} rec/s   (+ {t_start:.1f} s to start the local cluster, "
          "once)")
    print(f"{'1 torch thread':16} {'':>10} {r_one:8.1f} rec/s   (one process; twice this is "
          f"{2 * r_one / r_local:.2f}x the one process at {threads} threads)")
    print(f"speed-up: steady {r_ray / r_local:.2f}x (goal >= 1.7x on 2 cores; {r_ray / (2 * r_one):.2f}x twice the "
          f"one-thread rate), end to end {t_local / t_ray:.2f}x; outputs identical (latency aside): {same}")
    print(f"steady vs the one process at its better thread count ({'1' if r_one > r_local else threads}): "
          f"{r_ray / max(r_one, r_local):.2f}x")


if __name__ == "__main__":
    main()
