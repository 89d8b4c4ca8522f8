"""Llama Guard 3 Vision through AutoProcessor / AutoModelForImageTextToText on a tiny random Mllama."""

from __future__ import annotations

import pytest
from PIL import Image

from lam3.judges import registry
from lam3.judges.base import ScoreInput
from lam3.judges.llama_guard_prompt import LLAMA_GUARD_3_VISION


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    Image.new("RGB", (40, 30), (220, 10, 10)).save(root / "red.png")
    Image.new("RGB", (30, 40), (10, 10, 220)).save(root / "blue.png")
    return root


@pytest.fixture(scope="module")
def vision(lg_vision_dir, images):
    return registry.build({"judge": "llama_guard_3_vision", "model_id": str(lg_vision_dir),
                           "local_files_only": True, "image_root": str(images)})


def test_loads_mllama_through_the_auto_classes(vision):
    assert type(vision.model).__name__ == "MllamaForConditionalGeneration"
    assert type(vision.processor).__name__ == "MllamaProcessor"
    assert not vision.use_template  # the tiny processor ships no chat template: built-in text
    assert vision.labels[-1] == "S13"


def test_image_reaches_the_model_and_batching_matches_single(vision):
    red = ScoreInput(id="r", text="a red image", prompt="what is this", images=["red.png"])
    blue = ScoreInput(id="b", text="a red image", prompt="what is this", images=["blue.png"])
    text_only = ScoreInput(id="t", text="a red image", prompt="what is this")
    batch = vision.score([red, text_only, blue])
    assert all(j.error is None for j in batch)
    assert len({round(j.scores["unsafe"], 7) for j in batch}) == 3  # the image changes the score
    for item, j in zip([red, text_only, blue], batch):
        assert abs(vision.score([item])[0].scores["unsafe"] - j.scores["unsafe"]) < 1e-4
    assert vision.build_prompt("q", "r", image=True) == LLAMA_GUARD_3_VISION.build("q", "r", image=True)


def test_image_problems_are_per_record_errors(vision):
    out = vision.score([ScoreInput(id="m", text="x", prompt="y", images=["missing.png"]),
                        ScoreInput(id="2", text="x", prompt="y", images=["red.png", "blue.png"]),
                        ScoreInput(id="ok", text="x", prompt="y", images=["red.png"])])
    assert "cannot read image" in out[0].error
    assert "at most one image" in out[1].error
    assert out[2].error is None


def test_generate_mode_runs_with_images(lg_vision_dir, images):
    judge = registry.build({"judge": "llama_guard_3_vision", "model_id": str(lg_vision_dir),
                            "local_files_only": True, "image_root": str(images), "mode": "generate",
                            "max_new_tokens": 3})
    out = judge.score([ScoreInput(id="r", text="a red image", prompt="what is this", images=["red.png"])])[0]
    # a random tiny model rarely answers in Llama Guard's format: either a parsed verdict or a clear error
    assert out.error is None or "does not start with 'safe' or 'unsafe'" in out.error


def test_an_image_outside_image_root_is_refused_not_read(vision, images, tmp_path):
    secret = tmp_path / "secret.png"
    Image.new("RGB", (30, 30), (1, 1, 1)).save(secret)
    out = vision.score([ScoreInput(id="abs", text="x", prompt="y", images=[str(secret)]),
                        ScoreInput(id="up", text="x", prompt="y", images=[f"../{tmp_path.name}/secret.png"],
                                   source="run/response.jsonl", line=4)])
    assert out[0].error.startswith(f"images[0]: {str(secret)!r} is an absolute path outside the image_root folder")
    assert out[1].error.startswith("run/response.jsonl:4: images[0]: ") and "leads outside the image_root" in \
        out[1].error
