"""Concurrent judges: an offline + a remote judge in one ``lam3 score`` vs each alone.

The offline judge is the tiny Llama Guard on this CPU (tests/tiny/llama_guard.py, widened with
``--hidden``/``--layers`` so it costs real time); the remote one is the HarmBench classifier over
the openai_compatible backend, against the local fake chat server (its own process) playing
``vllm serve`` under a quota of ``--quota`` requests per second, which the client honours, so
the remote judge spends its time waiting on the quota. Side by side in one run, each through
``lam3.pipeline.score.score_file`` on the same N placeholder records:

* each judge alone, then both with ``concurrent_judges: true`` (the default: one thread per judge,
  a bounded look-ahead) and with ``concurrent_judges: false`` (one judge after another).

Goal (issue 17): both together ≤ 1.1× the slower one alone (sequentially it is their sum).

    .venv/bin/python benchmarks/bench_concurrent_judges.py                          # smoke: 128 records
    .venv/bin/python benchmarks/bench_concurrent_judges.py --records 2048 --quota 100   # full size
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _util import machine, placeholder_records, write_jsonl  # noqa: E402


def serve(quota: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "lam3.testing.fake_chat", "--model", "judge", "--key", "bench",
                             "--quota", str(quota), "--vllm", "--lifetime-s", "1800"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["base_url"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=128)
    parser.add_argument("--quota", type=float, default=40.0, help="the remote judge's requests per second")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--write-batch", type=int, default=32)
    args = parser.parse_args()

    import torch
    import yaml

    from lam3.pipeline.score import score_file
    from tiny.llama_guard import build_tiny_llama_guard

    os.environ["BENCH_CHAT_KEY"] = "bench"
    proc, base_url = serve(args.quota)
    print(f"# bench_concurrent_judges — {machine()}; torch {torch.__version__} ({torch.get_num_threads()} threads); "
          f"tiny guard d={args.hidden} x {args.layers}; remote: harmbench_classifier at {args.quota:g} rps (fake vllm "
          f"serve, own process); {args.records} records, {args.write_batch} per write")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            guard = build_tiny_llama_guard(tmp_path / "guard", hidden=args.hidden, layers=args.layers)
            source = tmp_path / "responses.jsonl"
            write_jsonl(source, placeholder_records(args.records))
            offline = {"judge": "llama_guard", "model_id": str(guard), "local_files_only": True, "batch_size": 16}
            remote = {"judge": "harmbench_classifier", "backend": "openai_compatible", "base_url": base_url,
                      "model_id": "judge", "api_key_env": "BENCH_CHAT_KEY", "clip_tokens": None,
                      "requests_per_second": args.quota, "max_concurrency": 16}
            runs = {"offline alone": ([offline], {}), "remote alone": ([remote], {}),
                    "both, concurrent": ([offline, remote], {}),
                    "both, one after another": ([offline, remote], {"concurrent_judges": False})}
            seconds = {}
            for name, (judges, extra) in runs.items():
                config = tmp_path / f"{len(seconds)}.yaml"
                config.write_text(yaml.safe_dump({"batch_size": args.write_batch, "judges": judges, **extra}))
                t0 = time.perf_counter()
                summary = score_file(source, config, tmp_path / str(len(seconds)) / "scored.jsonl")
                seconds[name] = time.perf_counter() - t0
                assert summary.scored == args.records and not summary.errors, summary.as_dict()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    for name, t in seconds.items():
        print(f"{name:26} {t:8.2f} s")
    slower = max(seconds["offline alone"], seconds["remote alone"])
    alone_sum = seconds["offline alone"] + seconds["remote alone"]
    print(f"both concurrent / slower alone: {seconds['both, concurrent'] / slower:.2f} (goal <= 1.1); "
          f"one after another / sum alone: {seconds['both, one after another'] / alone_sum:.2f}")


if __name__ == "__main__":
    main()
