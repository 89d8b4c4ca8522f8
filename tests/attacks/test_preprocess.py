"""The differentiable pixel path reproduces each processor's pixel_values (to 1e-5) and carries gradients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lam3.attacks.preprocess import TOLERANCE, build_pipeline, from_pil, processor_images, to_pil
from lam3.errors import UserError


def _photo(h: int, w: int, seed: int = 0) -> Image.Image:
    return Image.fromarray((np.random.default_rng(seed).random((h, w, 3)) * 255).astype("uint8"))


def _processor(path: Path):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(path, local_files_only=True).image_processor


def _reference(image_processor, arch: str, image) -> torch.Tensor:
    return torch.as_tensor(image_processor(images=processor_images(arch, image), return_tensors="pt")["pixel_values"])


@pytest.mark.parametrize("arch", ["llava", "idefics2"])
@pytest.mark.parametrize("size", [(40, 50), (32, 32), (70, 23)])
def test_matches_processor_and_is_differentiable(attack_models: dict, arch: str, size: tuple[int, int]) -> None:
    ip = _processor(attack_models[arch])
    image = _photo(*size)
    pipeline, x, diff = build_pipeline(ip, arch, image)
    ours = pipeline(x)
    ref = _reference(ip, arch, image).float()
    assert ours.shape == ref.shape
    assert float((ours - ref).abs().max()) <= TOLERANCE and diff <= TOLERANCE
    # optimising happens in [0, 1] pixel space, before normalisation
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    xv = x.clone().requires_grad_(True)
    pipeline(xv).square().sum().backward()
    assert xv.grad is not None and float(xv.grad.abs().min()) > 0
    # the resized image, saved as PNG and read back, is what the processor sees too
    assert torch.equal(from_pil(to_pil(x)), x)


def test_idefics2_image_splitting_with_exact_crops(attack_models: dict) -> None:
    """4 quadrant crops + the whole image; crops zero-padded after normalising, as the processor does."""
    from transformers import Idefics2ImageProcessor

    ip = Idefics2ImageProcessor(do_image_splitting=True, size={"longest_edge": 32, "shortest_edge": 8})
    image = _photo(32, 32, seed=3)
    pipeline, x, diff = build_pipeline(ip, "idefics2", image)
    ours = pipeline(x)
    ref = _reference(ip, "idefics2", image).float()
    assert ours.shape == ref.shape == (1, 5, 3, 32, 32)
    assert float((ours - ref).abs().max()) <= TOLERANCE
    mask = torch.as_tensor(ip(images=[[image]], return_tensors="pt")["pixel_attention_mask"])
    assert torch.equal(pipeline.pixel_attention_mask, mask)
    assert int(mask[0, 0].sum()) == 16 * 16 and int(mask[0, 4].sum()) == 32 * 32


def test_resampled_crops_are_refused(attack_models: dict) -> None:
    from transformers import Idefics2ImageProcessor

    # shortest_edge 32 forces the 16x16 crops to be upsampled: not differentiable exactly → refuse
    ip = Idefics2ImageProcessor(do_image_splitting=True, size={"longest_edge": 32, "shortest_edge": 32})
    with pytest.raises(UserError, match="image_size"):
        build_pipeline(ip, "idefics2", _photo(32, 32))


def test_check_catches_a_wrong_normalisation(attack_models: dict) -> None:
    from lam3.attacks.preprocess import check_pipeline

    ip = _processor(attack_models["llava"])
    image = _photo(40, 50)
    pipeline, x, _ = build_pipeline(ip, "llava", image)
    pipeline.std = pipeline.std * 1.001  # off by 0.1 %: must be caught
    with pytest.raises(UserError, match="differs from the processor"):
        check_pipeline(pipeline, ip, "llava", image, x)
