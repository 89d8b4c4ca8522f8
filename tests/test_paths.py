"""lam3.paths: a record's image is read only inside the allowed folders, symbolic links resolved."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from lam3.errors import ConfigError, UserError
from lam3.judges import registry
from lam3.judges.base import ScoreInput
from lam3.paths import ImagePathError, ImageRoots


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """bench/images/ok.png, bench/images/link.png → outside/secret.png, outside/secret.png."""
    bench, outside = tmp_path / "bench", tmp_path / "outside"
    (bench / "images").mkdir(parents=True)
    outside.mkdir()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(bench / "images" / "ok.png")
    Image.new("RGB", (4, 4), (9, 9, 9)).save(outside / "secret.png")
    (bench / "images" / "link.png").symlink_to(outside / "secret.png")
    return {"bench": bench, "outside": outside, "secret": outside / "secret.png"}


def test_paths_inside_the_base_resolve_to_the_real_file(layout) -> None:
    roots = ImageRoots.at(layout["bench"])
    assert roots.resolve("images/ok.png") == (layout["bench"] / "images" / "ok.png").resolve()
    assert roots.resolve("images/../images/ok.png") == roots.resolve("images/ok.png")  # '..' that stays inside
    assert roots.resolve(str(layout["bench"] / "images" / "ok.png")) == roots.resolve("images/ok.png")


@pytest.mark.parametrize("ref, why", [
    ("../outside/secret.png", "leads outside the benchmark folder"),
    ("ABSOLUTE", "is an absolute path outside the benchmark folder"),
    ("images/link.png", "lies outside the benchmark folder {bench} (through a symbolic link)"),
])
def test_escapes_are_the_records_error_naming_file_line_and_field(layout, ref, why) -> None:
    ref = str(layout["secret"]) if ref == "ABSOLUTE" else ref
    roots = ImageRoots.at(layout["bench"])
    with pytest.raises(ImagePathError) as caught:
        roots.resolve(ref, file="bench/samples.jsonl", line=3, field="images[0]")
    message = str(caught.value)
    assert message.startswith(f"bench/samples.jsonl:3: images[0]: {ref!r} ")
    assert why.format(bench=layout["bench"]) in message and "--allow-image-root DIR" in message
    assert not caught.value.missing


def test_an_allowed_folder_lets_the_same_paths_through(layout) -> None:
    roots = ImageRoots.at(layout["bench"], allow=[layout["outside"]])
    secret = layout["secret"].resolve()
    assert roots.resolve("../outside/secret.png") == secret
    assert roots.resolve(str(layout["secret"])) == secret
    assert roots.resolve("images/link.png") == secret


def test_missing_files_inside_and_outside_are_told_apart_without_probing_outside(layout) -> None:
    roots = ImageRoots.at(layout["bench"])
    with pytest.raises(ImagePathError, match=r"image not found: 'images/nope.png' in the benchmark folder") as inside:
        roots.resolve("images/nope.png")
    assert inside.value.missing
    # a file outside that does not exist gets the same answer as one that does: no way to probe the disk
    with pytest.raises(ImagePathError, match="leads outside the benchmark folder") as outside:
        roots.resolve("../outside/nope.png")
    assert not outside.value.missing
    with pytest.raises(ImagePathError, match="is not a file path"):
        roots.resolve("")


def test_the_folders_themselves_must_exist(layout, tmp_path) -> None:
    with pytest.raises(UserError, match="benchmark folder not found"):
        ImageRoots.at(tmp_path / "nope")
    with pytest.raises(UserError, match=r"--allow-image-root: folder not found"):
        ImageRoots.at(layout["bench"], allow=[tmp_path / "nope"])


def test_a_judges_image_root_replaces_the_base_and_keeps_the_allowed_folders(layout, tmp_path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    Image.new("RGB", (4, 4)).save(other / "x.png")
    item = ScoreInput(id="r", text="t", images=["x.png", "../outside/secret.png"], source="run/response.jsonl",
                      line=7, image_roots=ImageRoots.at(layout["bench"], allow=[layout["outside"]], name="run folder"))
    assert item.image_path(0, other) == (other / "x.png").resolve()
    assert item.image_path(1, other) == layout["secret"].resolve()  # --allow-image-root still applies
    with pytest.raises(ImagePathError, match=r"^run/response.jsonl:7: images\[0\]: image not found"):
        item.image_path(0)  # without the image_root the base is the run folder
    bare = ScoreInput(id="r", text="t", images=["x.png"])
    with pytest.raises(ImagePathError, match=r"^images\[0\]: no folder to read images from .* set the judge's "
                                             "image_root"):
        bare.image_path(0)


def test_a_judge_image_root_that_is_not_a_folder_is_a_config_error(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.raises(ConfigError, match=r"image_root: .*folder not found: 'no/such/dir'"):
        registry.build({"judge": "openai_moderation", "image_root": "no/such/dir"})


def test_a_score_input_keeps_its_image_roots_through_json(tmp_path) -> None:
    """Engines that ship records as text (Ray) must not lose the roots: the confinement travels with the record."""
    import json

    (tmp_path / "extra").mkdir()
    roots = ImageRoots.at(tmp_path, allow=[tmp_path / "extra"], name="run folder")
    item = ScoreInput(id="a", text="t", images=["x.png"], image_roots=roots, source="in.jsonl", line=3)
    back = ScoreInput.from_json(json.loads(json.dumps(item.to_json())))
    assert back == item
    with pytest.raises(ImagePathError, match="outside"):
        back.image_roots.resolve("../secret.png", file="in.jsonl", line=3, field="images[0]")
