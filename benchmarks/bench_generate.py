"""Batched vs one-at-a-time generation on the tiny LLaVA / IDEFICS2 test models (tokens/s, side by side).

    .venv/bin/python benchmarks/bench_generate.py [--samples 32] [--batch-size 16] [--new-tokens 32]

Both arms run the same wrapper code (``MLLM.generate``), the same requests and the same
per-sample seeds; the ratio is batched tokens/s over per-sample tokens/s, measured in one
run. Outputs are also compared: batching must not change what a sample gets. Tiny random
models on CPU measure the framework's per-call overhead and batching, not a 7B model's
speed on a GPU.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
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


if __name__ == "__main__":
    main()
