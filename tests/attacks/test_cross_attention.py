"""Attention capture: same outputs as the model's own attention, masses equal to eager attention weights,
gradients reach the pixels, and the model is left as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from lam3.attacks.cross_attention import AttentionCapture, SurfaceSpec, describe_surfaces


def _inputs(mllm, texts):
    img = Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype("uint8"))
    return mllm.prepare_inputs(texts, [[img]] * len(texts))


def _eager_copy(mllm):
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(mllm.config.model_id, local_files_only=True,
                                                       attn_implementation="eager").eval()


def _lm_mass_reference(attentions, layers, heads, keys, queries):
    values = []
    for layer in layers:
        w = attentions[layer][:, heads].mean(1)
        per_query = (w * keys[:, None, :].float()).sum(-1)
        values.append((per_query * queries.float()).sum() / queries.float().sum())
    return torch.stack(values).mean()


@pytest.mark.parametrize("arch", ["llava", "idefics2"])
def test_capture_matches_eager_attention_and_keeps_outputs(mllms: dict, arch: str) -> None:
    mllm = mllms[arch]
    model = mllm.model
    inputs = _inputs(mllm, ["describe this image", "hello"])  # two lengths: left padding in the batch
    valid = inputs["attention_mask"].bool()
    keys = inputs["input_ids"] == mllm.image_token_id
    queries = valid & ~keys
    with torch.no_grad():
        plain = model(**inputs).logits
    specs = [SurfaceSpec("lm", layers=[-1], heads=[1])]
    if arch == "idefics2":
        specs.append(SurfaceSpec("perceiver"))
    pv = inputs["pixel_values"].clone().requires_grad_(True)
    before = model.config.text_config._attn_implementation
    capture = AttentionCapture(model, specs)
    with capture:
        capture.start(lm_image_keys=keys, lm_queries=queries)
        logits = model(**{**inputs, "pixel_values": pv}).logits
        masses = capture.stop()
    assert model.config.text_config._attn_implementation == before == "sdpa"
    assert float((logits.detach() - plain)[valid].abs().max()) < 1e-5
    assert set(masses) == {s.surface for s in specs}

    eager = _eager_copy(mllm)
    with torch.no_grad():
        out = eager(**inputs, output_attentions=True)
    n_layers = len(out.attentions)
    ref = _lm_mass_reference(out.attentions, [n_layers - 1], [1], keys, queries)
    assert abs(float(masses["lm"].detach()) - float(ref)) < 1e-5
    if arch == "idefics2":
        # reference: forward hook on the eager perceiver attention (weights = latents × (patches + latents))
        seen = []
        handle = eager.model.connector.perceiver_resampler.layers[0].self_attn.register_forward_hook(
            lambda mod, args, output: seen.append(output[1]))
        with torch.no_grad():
            eager(**inputs)
        handle.remove()
        w = seen[0].mean(1)
        n_ctx = w.shape[-1] - w.shape[-2]
        assert abs(float(masses["perceiver"].detach()) - float(w[..., :n_ctx].sum(-1).mean())) < 1e-5
    # the attention term alone has a non-zero gradient on the pixels
    (grad,) = torch.autograd.grad(sum(masses.values()), pv)
    assert float(grad.abs().sum()) > 0


def test_surfaces_and_errors(mllms: dict) -> None:
    llava, idefics2 = mllms["llava"].model, mllms["idefics2"].model
    assert describe_surfaces(llava) == {"lm": {"layers": 2, "heads": 2}}
    assert describe_surfaces(idefics2) == {"lm": {"layers": 2, "heads": 2}, "perceiver": {"layers": 1, "heads": 2}}
    with pytest.raises(ValueError, match="perceiver"):
        AttentionCapture(llava, [SurfaceSpec("perceiver")])
    with pytest.raises(ValueError, match="out of range"):
        AttentionCapture(llava, [SurfaceSpec("lm", layers=[5])])
    with pytest.raises(ValueError, match="heads"):
        AttentionCapture(llava, [SurfaceSpec("lm", heads=[2])])
    capture = AttentionCapture(llava, [SurfaceSpec("lm")])
    with capture, pytest.raises(ValueError, match="lm_image_keys"):
        capture.start()


def test_only_selected_layers_take_the_eager_path(mllms: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import lam3.attacks.cross_attention as xattn

    calls = []
    real = xattn._eager
    monkeypatch.setattr(xattn, "_eager", lambda module, *a: calls.append(module) or real(module, *a))
    mllm = mllms["llava"]
    inputs = _inputs(mllm, ["describe this image"])
    keys = inputs["input_ids"] == mllm.image_token_id
    capture = AttentionCapture(mllm.model, [SurfaceSpec("lm", layers=[-1])])
    with capture, torch.no_grad():
        capture.start(lm_image_keys=keys, lm_queries=~keys)
        mllm.model(**inputs)
        capture.stop()
    assert calls == [xattn.language_layers(mllm.model)[-1].self_attn]  # the other layer and the vision tower: SDPA


def test_aliased_layer_indices_are_refused(mllms: dict) -> None:
    with pytest.raises(ValueError, match="same layer twice"):
        AttentionCapture(mllms["llava"].model, [SurfaceSpec("lm", layers=[1, -1])])
