"""Batched vs one-at-a-time generation on the tiny LLaVA / IDEFICS2 test models (tokens/s, side by side).

    .venv/bin/python benchmarks/bench_generate.py [--samples 32] [--batch-size 16] [--new-tokens 32] \
        [--num-samples 4] [--k-samples 8]

Small (a smoke run): ``--samples 8 --batch-size 4 --new-tokens 8 --k-samples 4``; full size: the defaults.

Both arms run the same wrapper code (``MLLM.generate``), the same requests and the same
per-sample seeds; the ratio is batched tokens/s over per-sample tokens/s, measured in one
run. Outputs are also compared: batching must not change what a sample gets. Tiny random
models on CPU measure the framework's per-call overhead and batching, not a 7B model's
speed on a GPU.

The second figure is ``num_samples: k``: one ``lam3 generate`` run (``generate_file``) with k draws
per sample of the mini bench, against what a user would otherwise do, k runs with k = 1 and k
different seeds. Each arm loads the model itself, as the command does; draw 0 of the k-run must
equal the k = 1 run with the same seed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def run(arch: str, build, root: Path, args: argparse.Namespace) -> dict[str, float]:
    from PIL import Image

    from lam3.models import GenerationConfig, ModelConfig, Request, load_mllm, sample_seed

    path = build(root / arch)
    model = ModelConfig(architecture=arch, model_id=str(path), local_files_only=True, device_map="cpu",
                        precision="fp32", quantization=False)
    images = [Image.new("RGB", (48, 40), (200, 30, 30)), Image.linear_gradient("L").convert("RGB")]
    prompts = ["describe this image", "how to make a weapon", "tell me about the cat", "what is the house"]
    reqs = [Request(f"s{i}", prompts[i % 4], [images[i % 2]], sample_seed(42, f"s{i}")) for i in range(args.samples)]
    rows = {}
    for mode, gen in (("greedy", dict(do_sample=False)), ("sampled", dict(temperature=0.7, top_p=0.95))):
        mllm = load_mllm(model, GenerationConfig(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, **gen))
        mllm.generate(reqs[:2])  # warm-up
        t = time.perf_counter()
        one = [out for r in reqs for out in mllm.generate([r])]
        t_one = time.perf_counter() - t
        t = time.perf_counter()
        batched = [out for i in range(0, len(reqs), args.batch_size) for out in mllm.generate(reqs[i:i + args.batch_size])]
        t_batch = time.perf_counter() - t
        tokens = sum(o.new_tokens for o in batched)
        same = [o.text for o in one] == [o.text for o in batched]
        rows[mode] = (tokens / t_one, tokens / t_batch, t_one / t_batch, same)
    return rows


def num_samples_figure(root: Path, args: argparse.Namespace) -> tuple[float, float, int, bool]:
    """(seconds of one k-draw run, seconds of k runs of one draw, responses, draw 0 equal to the k = 1 run)."""
    import json

    import yaml

    from lam3.pipeline.generate import generate_file
    from tiny.llava import build_tiny_llava

    bench = Path(__file__).resolve().parents[1] / "data" / "mini_bench"
    model = {"architecture": "llava", "model_id": str(build_tiny_llava(root / "llava-k")), "local_files_only": True,
             "device_map": "cpu", "precision": "fp32", "quantization": False}

    def config(**generation) -> Path:
        path = root / f"gen-{len(list(root.glob('gen-*.yaml')))}.yaml"
        gen = {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens, "temperature": 0.7, **generation}
        path.write_text(yaml.safe_dump({"batch_size": args.batch_size, "model": model, "generation": gen}))
        return path

    k, n = args.num_samples, args.k_samples
    generate_file(config(seed=1), bench, root / "warm-up" / "response.jsonl", limit=2)  # first-call costs
    t = time.perf_counter()
    generate_file(config(num_samples=k, seed=42), bench, root / "k" / "response.jsonl", limit=n * k)
    t_k = time.perf_counter() - t
    t = time.perf_counter()
    for j in range(k):
        generate_file(config(seed=42 + j), bench, root / f"r{j}" / "response.jsonl", limit=n)
    t_runs = time.perf_counter() - t
    read = lambda p: [json.loads(line) for line in p.read_text().splitlines()]  # noqa: E731
    draws0 = {r["sample_id"]: r["response"] for r in read(root / "k" / "response.jsonl") if r["sample_index"] == 0}
    same = draws0 == {r["sample_id"]: r["response"] for r in read(root / "r0" / "response.jsonl")}
    return t_k, t_runs, n * k, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--num-samples", type=int, default=4, help="k of the num_samples figure")
    parser.add_argument("--k-samples", type=int, default=8, help="mini-bench samples in the num_samples figure")
    args = parser.parse_args()

    import torch

    from tiny.idefics2 import build_tiny_idefics2
    from tiny.llava import build_tiny_llava

    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, cpu; samples={args.samples}, "
          f"batch_size={args.batch_size}, new_tokens={args.new_tokens} (min=max, so every sample makes the same count)")
    print(f"{'model':10} {'decoding':8} {'1-by-1 tok/s':>13} {'batched tok/s':>14} {'speed-up':>9}  same outputs")
    with tempfile.TemporaryDirectory() as tmp:
        for arch, build in (("llava", build_tiny_llava), ("idefics2", build_tiny_idefics2)):
            for mode, (one, batched, ratio, same) in run(arch, build, Path(tmp), args).items():
                print(f"{arch:10} {mode:8} {one:13.0f} {batched:14.0f} {ratio:8.1f}x  {same}")
        t_k, t_runs, n, same = num_samples_figure(Path(tmp), args)
        k = args.num_samples
        print(f"\nnum_samples (llava, sampled, {args.k_samples} mini-bench samples, {n} responses, model load included)")
        print(f"{'one run, num_samples: ' + str(k):28} {t_k:7.2f} s")
        print(f"{str(k) + ' runs, num_samples: 1':28} {t_runs:7.2f} s   speed-up {t_runs / t_k:.1f}x   "
              f"draw 0 = the k=1 run: {same}")


if __name__ == "__main__":
    main()
