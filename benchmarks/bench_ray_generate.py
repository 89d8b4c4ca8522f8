"""``lam3 generate --engine ray`` with 2 model replicas vs one process, on the tiny LLaVA.

The model is the tiny random LLaVA of the tests (tests/tiny/llava.py), sampling a fixed number of new
tokens (``min_new_tokens = max_new_tokens``) for placeholder samples with two images between them.
Side by side in one run, all through ``lam3.pipeline.generate.generate_file``, as the command runs:

* **one process** (``engine: local``): the path a user takes without Ray; torch uses every core;
* **one process, 1 thread** (``torch.set_num_threads(1)``): the same, without intra-op threads, which on
  a model this small (and a shared machine) cost more than they give: the fair single-process baseline;
* **Ray, 2 replicas** (``engine: ray``, ``replicas: {actors: 2, num_cpus: 1}`` on a local 2-CPU
  cluster, started before the clock: a cluster outlives a run); the cluster's start is printed apart.

Each arm runs N and then 2N samples. End to end is the 2N run, start-up included (a Ray replica
imports torch and loads the model before its first batch: seconds, once per run); steady is the
marginal rate N / (T(2N) − T(N)) in draws per second, where that fixed cost cancels: what decides a
long run. The outputs of the arms must hold the same lines (timings aside; Ray writes batches as
they finish). A tiny model on CPU measures the per-step overhead one Python process cannot spread
over two cores, not a 7B model on GPUs (there a replica per GPU scales with the GPUs).

    .venv/bin/python benchmarks/bench_ray_generate.py                                    # smoke: 48 samples
    .venv/bin/python benchmarks/bench_ray_generate.py --samples 256 --new-tokens 32      # full size
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
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _util import WORDS, machine, torch_and_ray  # noqa: E402


def without_timings(path: Path) -> list[dict]:
    return sorted(({k: v for k, v in json.loads(line).items() if k != "timings"}
                   for line in path.read_text().splitlines()), key=lambda r: r["id"])


def timed(generate_file, config: Path, bench: Path, out: Path, engine: str) -> float:
    t0 = time.perf_counter()
    generate_file(config, bench, out, engine=engine)
    return time.perf_counter() - t0


def arm(generate_file, config: Path, benches: tuple[Path, Path], out: Path, engine: str, n: int
        ) -> tuple[float, float]:
    """(seconds end to end for 2N samples, marginal draws/s between the N and the 2N run)."""
    t_n = timed(generate_file, config, benches[0], out / "n" / "response.jsonl", engine)
    t_2n = timed(generate_file, config, benches[1], out / "2n" / "response.jsonl", engine)
    return t_2n, n / (t_2n - t_n) if t_2n > t_n else float("nan")


def write_bench(root: Path, n: int) -> Path:
    import random

    from PIL import Image

    (root / "images").mkdir(parents=True)
    Image.new("RGB", (48, 40), (200, 30, 30)).save(root / "images" / "red.png")
    Image.linear_gradient("L").convert("RGB").resize((40, 40)).save(root / "images" / "grad.png")
    rng = random.Random(0)
    with open(root / "samples.jsonl", "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"s{i}", "prompt": " ".join(rng.choices(WORDS, k=rng.randint(4, 10))),
                                "images": [f"images/{('red', 'grad')[i % 2]}.png"], "category": "benign"}) + "\n")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=4, help="draws per write batch (one replica call)")
    parser.add_argument("--new-tokens", type=int, default=16)
    args = parser.parse_args()

    import ray
    import torch
    import yaml

    from lam3.pipeline.generate import generate_file
    from tiny.llava import build_tiny_llava

    print(f"# bench_ray_generate — {machine()}; {torch_and_ray()}; "
          f"tiny LLaVA; {args.samples} samples, {args.new_tokens} new "
          f"tokens each (sampled), {args.batch_size} per write; each arm runs N then 2N samples")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        llava = build_tiny_llava(tmp_path / "llava")
        config = tmp_path / "gen.yaml"
        config.write_text(yaml.safe_dump({
            "backend": "hf", "batch_size": args.batch_size,
            "model": {"architecture": "llava", "model_id": str(llava), "local_files_only": True, "device_map": "cpu",
                      "precision": "fp32", "quantization": False},
            "generation": {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens, "temperature": 1.0,
                           "seed": 1},
            "replicas": {"actors": 2, "num_cpus": 1}}))

        n = args.samples
        benches = (write_bench(tmp_path / "bench-n", n), write_bench(tmp_path / "bench-2n", 2 * n))
        rows = {"one process": arm(generate_file, config, benches, tmp_path / "local", "local", n)}
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            rows["one process, 1 thread"] = arm(generate_file, config, benches, tmp_path / "local-1", "local", n)
        finally:
            torch.set_num_threads(threads)
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
        t_start = time.perf_counter() - t0
        try:
            rows["Ray, 2 replicas"] = arm(generate_file, config, benches, tmp_path / "ray", "ray", n)
        finally:
            ray.shutdown()
        outputs = [without_timings(tmp_path / name / "2n" / "response.jsonl") for name in ("local", "local-1", "ray")]
        same = outputs[0] == outputs[1] == outputs[2]

    print(f"{'':22} {'end to end':>10} {'steady':>16}")
    for name, (seconds, rate) in rows.items():
        print(f"{name:22} {seconds:9.2f}s {rate:9.1f} draws/s")
    print(f"(+ {t_start:.1f} s to start the local Ray cluster, once)")
    ray_s, ray_rate = rows["Ray, 2 replicas"]
    for name in ("one process", "one process, 1 thread"):
        seconds, rate = rows[name]
        print(f"Ray vs {name}: steady {ray_rate / rate:.2f}x, end to end {seconds / ray_s:.2f}x")
    print(f"same lines in all three (timings aside): {same}")


if __name__ == "__main__":
    main()
