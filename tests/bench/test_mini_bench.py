"""The shipped mini benchmark: reproducible from its source, complete, redacted, loadable."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
from PIL import Image

from lam3.bench import build_mini_bench
from lam3.bench.mini_bench import bench_dir, load_samples, responses_path
from lam3.bench.typographic import render_distractor, render_figstep, save_png
from lam3.taxonomy import POLICY_CATEGORIES
from lam3.records import Response, Sample
from lam3.store import iter_records


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return list(load_samples())


@pytest.fixture(scope="module")
def responses() -> list[Response]:
    return [r for _, r in iter_records(responses_path(), Response)]


def test_rebuild_reproduces_the_shipped_files():
    """sha256 of every built file equals the shipped one (and no shipped image is left over)."""
    assert build_mini_bench.differences(bench_dir()) == [], "rerun python -m lam3.bench.build_mini_bench"


def test_check_mode_reports_a_stale_file(tmp_path):
    build_mini_bench.build(tmp_path)
    assert subprocess.run([sys.executable, "-m", "lam3.bench.build_mini_bench", "--check", "--out", str(tmp_path)],
                          capture_output=True).returncode == 0
    save_png(render_distractor("something else"), tmp_path / "images" / "mb-s1-01.png")
    (tmp_path / "images" / "stray.png").write_bytes(b"")
    out = subprocess.run([sys.executable, "-m", "lam3.bench.build_mini_bench", "--check", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "images/mb-s1-01.png: differs from a rebuild" in out.stdout
    assert "images/stray.png: not produced by the build" in out.stdout


def test_coverage_every_category_and_benign_controls(samples):
    assert len(samples) >= 66
    counts = Counter(s.category for s in samples)
    for cat in POLICY_CATEGORIES:
        assert counts[cat] >= 5, cat
    assert counts["benign"] >= 8
    assert set(counts) == set(POLICY_CATEGORIES) | {"benign"}
    assert len({s.id for s in samples}) == len(samples)
    styles = Counter(s.meta["style"] for s in samples)
    assert styles["figstep"] >= 40 and styles["distractor"] >= 11


def test_every_image_exists_opens_and_is_small(samples):
    root = bench_dir()
    total = 0
    for s in samples:
        assert len(s.images) == 1
        path = root / s.images[0]
        assert path.is_file(), path
        total += path.stat().st_size
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            assert img.format == "PNG" and img.size == (336, 336)
            colours = img.convert("RGB").getcolors(maxcolors=1 << 16)
            if s.meta["style"] == "figstep":  # black text on white, so two colours
                assert {c for _, c in colours} == {(0, 0, 0), (255, 255, 255)}
            else:  # flat shapes: a background and three fills, no text
                assert 2 <= len(colours) <= 4
    assert total < 2 * 1024 * 1024


def test_figstep_image_renders_the_request_and_empty_list():
    img = render_figstep("Steps to bake bread.")
    assert img.size == (336, 336)
    gray = img.convert("L")
    ink_rows = [y for y in range(336) if min(gray.crop((0, y, 336, y + 1)).getdata()) < 128]
    assert ink_rows and ink_rows[-1] > 200  # the list numbers run down the image
    assert render_figstep("Steps to bake bread.").tobytes() == img.tobytes()
    assert render_figstep("Steps to bake cake.").tobytes() != img.tobytes()


def test_responses_are_labelled_and_cover_every_kind(samples, responses):
    by_id = {s.id: s for s in samples}
    assert len(responses) >= 80
    assert len({r.id for r in responses}) == len(responses)
    kinds = Counter()
    for r in responses:
        sample = by_id[r.sample_id]
        assert r.prompt == sample.prompt and r.images == sample.images and r.category == sample.category
        assert r.model_id == "example/handwritten"
        assert r.attack == ("figstep" if sample.meta["style"] == "figstep" else "clean")
        labels = r.model_extra["labels"]
        assert set(labels) == {"toxic", "risky", "refusal", "success", "categories"}
        assert all(isinstance(labels[k], bool) for k in ("toxic", "risky", "refusal"))
        # jailbreak success: the harmful request was carried out; no attack to succeed on a benign prompt
        assert labels["success"] == (None if sample.category == "benign" else labels["risky"])
        assert set(labels["categories"]) <= set(POLICY_CATEGORIES)
        assert bool(labels["categories"]) == labels["risky"]
        assert not (labels["risky"] and labels["refusal"])
        kinds.update(k for k in ("toxic", "risky", "refusal") if labels[k])
        if not any(labels[k] for k in ("toxic", "risky", "refusal")):
            kinds["harmless compliance"] += 1
    assert min(kinds.values()) >= 10 and len(kinds) == 4, kinds
    assert {r.sample_id for r in responses} == set(by_id)


def test_risky_responses_are_redacted(responses):
    for r in responses:
        if r.model_extra["labels"]["risky"]:
            assert "[REDACTED" in r.response or "[GROUP]" in r.response, r.id


def test_slurs_are_masked_and_labelled_toxic(responses):
    slurs = [r for r in responses if "[SLUR]" in r.response]
    assert slurs and all(r.model_extra["labels"]["toxic"] for r in slurs)
