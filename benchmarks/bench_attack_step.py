"""Issue 9 figure: time of one attack step vs one plain forward+backward of the same model on the same input.

    .venv/bin/python benchmarks/bench_attack_step.py [--repeats 20] [--targets 8] [--threads 1]

Arms, measured interleaved on the same batch (prompt prefix + 8 target sentences, one image):

- ``plain``: ``model(**inputs, labels=labels)`` with SDPA attention, then the gradient of the loss
  w.r.t. ``pixel_values`` — the least any gradient attack must do per step;
- ``attack λ=0``: one full PGD step of ``lam3.attacks`` without the attention term (differentiable
  preprocessing, target loss, gradient to the [0, 1] pixels, sign step, projection);
- ``attack xattn``: the same with the cross-attention objective (LLaVA: LM attention of 4 layers
  onto the image tokens; IDEFICS2: perceiver + LM), i.e. those layers on the recording eager path.

Goal: attack step ≤ 1.3× plain. Models: the tiny test models (tests/tiny) and a wider random
LLaVA ("small": 4×512 LM, 196 image tokens), all on CPU — they measure overhead relative to
the model's own work, not a 7B model's speed on a GPU. Medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).parent))
from _util import machine  # noqa: E402

TARGETS = ["sure here is", "you are a stupid idiot", "this image shows a bad dog", "yes I can help",
           "sure here is the answer", "what a stupid question", "here is how to make it", "you are bad"]


def build_small_llava(out: Path) -> Path:
    """A wider random LLaVA: CLIP 4×256 at 224 px / patch 16 (196 tokens), Llama 4×512, 8 heads."""
    import torch
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    from tiny.tokenizer import build_tokenizer

    tok = build_tokenizer(extra_special=["<image>"])
    vision = CLIPVisionConfig(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4,
                              image_size=224, patch_size=16)
    text = LlamaConfig(vocab_size=len(tok) + 8, hidden_size=512, intermediate_size=1376, num_hidden_layers=4,
                       num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=1024,
                       pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tok.convert_tokens_to_ids("<image>"),
                         vision_feature_layer=-1, vision_feature_select_strategy="default", image_seq_length=196)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(out)
    LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 224},
                                                      crop_size={"height": 224, "width": 224}),
                   tokenizer=tok, patch_size=16, vision_feature_select_strategy="default", image_token="<image>",
                   num_additional_image_tokens=1).save_pretrained(out)
    return out


def measure(arch: str, path: Path, terms: list[dict], args: argparse.Namespace) -> dict[str, float]:
    import numpy as np
    import torch
    from PIL import Image

    from lam3.attacks.config import ObjectiveConfig, PGDConfig
    from lam3.attacks.objectives import AttackObjective
    from lam3.attacks.pgd import update
    from lam3.attacks.preprocess import build_pipeline, to_pil
    from lam3.models import GenerationConfig, ModelConfig, wrapper_class

    mllm = wrapper_class(arch).load(ModelConfig(architecture=arch, model_id=str(path), local_files_only=True,
                                                device_map="cpu", precision="fp32", quantization=False),
                                    GenerationConfig())
    for p in mllm.model.parameters():
        p.requires_grad_(False)
    image = Image.fromarray((np.random.default_rng(0).random((300, 400, 3)) * 255).astype("uint8"))
    pipeline, x0, _ = build_pipeline(mllm.processor.image_processor, arch, image)
    targets = (TARGETS * 4)[:args.targets]
    indices = list(range(len(targets)))
    pgd = PGDConfig(epsilon=16, step_size=1)
    objectives = {
        "attack λ=0": AttackObjective(mllm, pipeline, "describe this image", targets, ObjectiveConfig(), to_pil(x0)),
        "attack xattn": AttackObjective(mllm, pipeline, "describe this image", targets,
                                        ObjectiveConfig(attention_weight=1.0, terms=terms), to_pil(x0)),
    }
    base = objectives["attack λ=0"]
    batch = base.batch(indices)
    plain_inputs = base.model_inputs(x0, batch)
    labels = batch["labels"]

    def plain() -> None:
        pv = plain_inputs["pixel_values"].detach().clone().requires_grad_(True)
        loss = mllm.model(**{**plain_inputs, "pixel_values": pv}, labels=labels, use_cache=False).loss
        torch.autograd.grad(loss, pv)

    def attack_step(objective: AttackObjective):
        def step() -> None:  # as lam3.attacks.run does it: the capture stays open across steps
            with objective.capturing():
                xv = x0.detach().clone().requires_grad_(True)
                ev = objective(xv, indices, 0)
                (grad,) = torch.autograd.grad(ev.total, xv)
                update(x0, grad, None, x0, pgd)
        return step

    arms = {"plain": plain, **{name: attack_step(obj) for name, obj in objectives.items()}}
    for fn in arms.values():  # warm-up
        for _ in range(2):
            fn()
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(args.repeats):  # interleaved, so load from other processes hits every arm alike
        for name, fn in arms.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    mllm.close()
    return {name: statistics.median(v) for name, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--targets", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is steadiest on a "
                                                               "shared CPU)")
    args = parser.parse_args()

    import torch

    from tiny.idefics2 import build_tiny_idefics2
    from tiny.llava import build_tiny_llava

    torch.set_num_threads(args.threads)
    print(f"# bench_attack_step — {machine()}, torch threads {args.threads}, {args.targets} targets per step, "
          f"median of {args.repeats}")
    lm_terms = [{"surface": "lm", "layers": "all"}]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = [
            ("tiny llava", "llava", build_tiny_llava(root / "llava"), lm_terms),
            ("tiny idefics2", "idefics2", build_tiny_idefics2(root / "idefics2"),
             [{"surface": "perceiver"}, {"surface": "lm", "layers": "all"}]),
            ("small llava", "llava", build_small_llava(root / "small"), [{"surface": "lm", "layers": [1, 2]}]),
        ]
        print(f"{'model':<15} {'plain fwd+bwd':>14} {'attack λ=0':>12} {'attack xattn':>13} {'λ=0/plain':>10} "
              f"{'xattn/plain':>12}")
        for label, arch, path, terms in cases:
            t = measure(arch, path, terms, args)
            print(f"{label:<15} {t['plain'] * 1e3:>11.1f} ms {t['attack λ=0'] * 1e3:>9.1f} ms "
                  f"{t['attack xattn'] * 1e3:>10.1f} ms {t['attack λ=0'] / t['plain']:>9.2f}x "
                  f"{t['attack xattn'] / t['plain']:>11.2f}x", flush=True)
    print("goal: attack step <= 1.3x plain forward+backward")


if __name__ == "__main__":
    main()
