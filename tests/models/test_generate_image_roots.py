"""``lam3 generate`` on a crafted benchmark: images outside the benchmark folder never reach the model.

The samples name an image inside the folder, one through ``..``, one by absolute path and one through
a symbolic link, the last three all the same outside file. Each escape is that response's error,
``samples.jsonl:LINE: images[0]: …``; the run goes on; the tiny LLaVA only ever sees the inside image.
``--allow-image-root`` lets the same samples through (so the check, not a missing file, refused them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lam3.pipeline.generate import generate_file

INSIDE, OUTSIDE = (20, 200, 20), (200, 20, 20)


class SeenImages:
    """The loaded tiny LLaVA, noting the colour of every image it is asked about (it still answers)."""

    def __init__(self, mllm: Any) -> None:
        self.mllm, self.colours = mllm, []

    def generate(self, requests):
        self.colours += [im.getpixel((0, 0)) for req in requests for im in req.images]
        return self.mllm.generate(requests)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.mllm, name)


@pytest.fixture
def crafted(tmp_path: Path) -> dict[str, Path]:
    bench, outside = tmp_path / "bench", tmp_path / "outside"
    (bench / "images").mkdir(parents=True)
    outside.mkdir()
    Image.new("RGB", (32, 32), INSIDE).save(bench / "images" / "ok.png")
    secret = outside / "secret.png"
    Image.new("RGB", (32, 32), OUTSIDE).save(secret)
    (bench / "images" / "link.png").symlink_to(secret)
    refs = ["images/ok.png", "../outside/secret.png", str(secret), "images/link.png"]
    (bench / "samples.jsonl").write_text("".join(
        json.dumps({"id": f"s{i}", "prompt": "describe this image", "images": [ref], "category": "benign"}) + "\n"
        for i, ref in enumerate(refs)))
    return {"bench": bench, "outside": outside, "samples": bench / "samples.jsonl"}


def _by_id(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_escaping_images_are_per_sample_errors_and_never_reach_the_model(crafted, gen_yaml, loaded, tmp_path):
    config = gen_yaml("llava")
    model = SeenImages(loaded("llava"))
    out = tmp_path / "run" / "response.jsonl"
    summary = generate_file(config, crafted["bench"], out, mllm=model)
    assert (summary.generated, summary.errors) == (1, 3)
    assert model.colours == [INSIDE]  # the outside file was never opened for the model
    recs = _by_id(out)
    assert recs["s0"]["error"] is None and recs["s0"]["response"]
    samples = crafted["samples"]
    for line, (sid, why) in enumerate([("s1", "leads outside the benchmark folder"),
                                       ("s2", "is an absolute path outside the benchmark folder"),
                                       ("s3", "lies outside the benchmark folder")], start=2):
        error = recs[sid]["error"]
        assert error.startswith(f"{samples}:{line}: images[0]: {recs[sid]['images'][0]!r} "), error
        assert why in error and "--allow-image-root DIR" in error
        assert recs[sid]["response"] == ""

    again = generate_file(config, crafted["bench"], out, mllm=model, retry_errors=True,
                          allow_image_roots=[crafted["outside"]])
    assert (again.generated, again.errors, again.retried) == (3, 0, 3)
    assert model.colours == [INSIDE] + [OUTSIDE] * 3
    assert all(r["error"] is None for r in _by_id(out).values())


def test_the_cli_passes_allow_image_root(crafted, gen_yaml, tmp_path):
    """One start-up: without the flag s1 is refused (the test above), with it s1 is answered."""
    out = tmp_path / "cli" / "response.jsonl"
    allowed = subprocess.run([sys.executable, "-m", "lam3", "generate", "-c", str(gen_yaml("llava")), "-b",
                              str(crafted["bench"]), "-o", str(out), "--limit", "2", "--allow-image-root",
                              str(crafted["outside"])], capture_output=True, text=True, timeout=300)
    assert allowed.returncode == 0, allowed.stderr
    assert _by_id(out)["s1"]["error"] is None
    manifest = json.loads((out.parent / "manifest.json").read_text())
    assert manifest["stages"]["generate:response.jsonl"]["config"]["allow_image_roots"] == \
        [str(crafted["outside"].resolve())]
