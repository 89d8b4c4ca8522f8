"""``num_samples: k``: k responses per sample, each draw seeded by (seed, sample id, j), whatever the batching."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from lam3.manifest import read_manifest
from lam3.models import Request, sample_seed
from lam3.pipeline.generate import generate_file, response_id
from models.conftest import read_lines, with_generation

K = 3
GENERATED = ("s1", "s2", "s4", "s5")  # s3's image is missing


def _texts(path: Path) -> dict[str, str]:
    return {r["id"]: r["response"] for r in read_lines(path)}


def test_seeds_per_draw():
    assert sample_seed(7, "s1", 0) == sample_seed(7, "s1")  # draw 0 keeps the seed of the only draw k = 1 had
    seeds = {sample_seed(7, f"s{i}", j) for i in range(50) for j in range(8)}
    assert len(seeds) == 400 and all(0 <= s < 2 ** 63 for s in seeds)
    with pytest.raises(ValueError, match="draw index must be >= 0"):
        sample_seed(7, "s1", -1)


def test_response_ids():
    assert [response_id("s1"), response_id("s1", "pgd")] == ["s1", "s1@pgd"]  # k = 1: as before
    assert [response_id("s1", draw=2), response_id("s1", "pgd", 0)] == ["s1#2", "s1@pgd#0"]


def test_draws_do_not_depend_on_batch_size(bench, gen_yaml, mllm_for, tmp_path, monkeypatch):
    config = gen_yaml("llava", num_samples=K)
    mllm = mllm_for(config)
    seen: list[Request] = []
    real = mllm.generate
    monkeypatch.setattr(mllm, "generate", lambda reqs: (seen.extend(reqs), real(reqs))[1])
    runs = {}
    for batch_size in (1, 3, 8):
        out = tmp_path / f"b{batch_size}" / "response.jsonl"
        summary = generate_file(config, bench, out, mllm=mllm, batch_size=batch_size)
        assert summary.generated == len(GENERATED) * K and summary.errors == K  # s3's three draws
        runs[batch_size] = read_lines(out)
    assert _texts(tmp_path / "b1" / "response.jsonl") == _texts(tmp_path / "b3" / "response.jsonl") == \
        _texts(tmp_path / "b8" / "response.jsonl")
    recs = runs[3]
    assert [r["id"] for r in recs] == [f"s{i}#{j}" for i in range(1, 6) for j in range(K)]
    for r in recs:
        j = int(r["id"].rsplit("#", 1)[1])
        assert r["sample_index"] == j and r["seed"] == sample_seed(7, r["sample_id"], j)
        assert r["generation"]["num_samples"] == K
    # the draws of one sample are k rows of one batch with k seeds: they differ
    by_sample = {sid: {r["response"] for r in recs if r["sample_id"] == sid} for sid in GENERATED}
    assert sum(len(texts) for texts in by_sample.values()) > len(GENERATED), by_sample
    # and each got its own seed: the model was asked with exactly the recorded seeds, once per draw
    asked = Counter((req.sample_id, req.seed) for req in seen)
    assert asked == Counter({(sid, sample_seed(7, sid, j)): 3 for sid in GENERATED for j in range(K)})

    # draw 0 is what k = 1 writes for the sample (same seed, and a seed is all that matters)
    single = tmp_path / "k1" / "response.jsonl"
    generate_file(gen_yaml("llava"), bench, single, mllm=mllm)
    assert _texts(single) == {r["sample_id"]: r["response"] for r in recs if r["sample_index"] == 0}
    assert {r["sample_index"] for r in read_lines(single)} == {0}
    assert read_manifest(single.parent).stages["generate:response.jsonl"].generation.num_samples == 1


def test_limit_counts_responses_and_resume_finishes_the_sample(bench, gen_yaml, mllm_for, tmp_path):
    config = gen_yaml("llava", num_samples=K)
    mllm = mllm_for(config)
    whole = tmp_path / "whole" / "response.jsonl"
    generate_file(config, bench, whole, mllm=mllm)
    part = tmp_path / "part" / "response.jsonl"
    first = generate_file(config, bench, part, mllm=mllm, limit=4, batch_size=2)  # s1's three draws + s2#0
    assert first.generated == 4 and [r["id"] for r in read_lines(part)] == ["s1#0", "s1#1", "s1#2", "s2#0"]
    second = generate_file(config, bench, part, mllm=mllm, batch_size=5)
    assert second.skipped == 4 and second.generated + second.errors == 11
    assert _texts(part) == _texts(whole)


def test_resume_with_another_num_samples_is_refused(bench, gen_yaml, mllm_for, tmp_path):
    from lam3.errors import UserError

    out = tmp_path / "n" / "response.jsonl"
    generate_file(gen_yaml("llava"), bench, out, mllm=mllm_for(gen_yaml("llava")), limit=1)
    other = gen_yaml("llava", num_samples=2)
    with pytest.raises(UserError, match=r"cannot resume: .*\(generation.num_samples: None then, 2 now\)"):
        generate_file(other, bench, out, mllm=mllm_for(other))


def test_attacked_draws(bench, gen_yaml, mllm_for, tmp_path):
    from PIL import Image

    config = gen_yaml("llava", num_samples=2)
    adv = tmp_path / "adv.png"
    Image.new("RGB", (32, 32), (9, 200, 9)).save(adv)
    out = tmp_path / "att" / "response.jsonl"
    generate_file(config, bench, out, mllm=mllm_for(config), attack_image=adv, attack_name="pgd", limit=3)
    assert [r["id"] for r in read_lines(out)] == ["s1@pgd#0", "s1@pgd#1", "s2@pgd#0"]


def _greedy(config: Path) -> Path:
    """The config without the conftest's temperature (greedy decoding refuses sampling knobs)."""
    import yaml

    data = yaml.safe_load(config.read_text())
    del data["generation"]["temperature"]
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def test_greedy_draws_when_allowed_are_identical(bench, gen_yaml, mllm_for, tmp_path):
    config = _greedy(gen_yaml("llava", num_samples=2, do_sample=False, allow_identical_samples=True))
    out = tmp_path / "g" / "response.jsonl"
    generate_file(config, bench, out, mllm=mllm_for(config), limit=4)
    texts = _texts(out)
    assert texts["s1#0"] == texts["s1#1"] and texts["s2#0"] == texts["s2#1"]


@pytest.mark.parametrize("arch", ["llava", "idefics2"])
def test_one_batch_of_draws_equals_each_draw_alone(arch, loaded):
    """The wrapper's part: k rows with one prompt and k seeds, batched, are each what that seed gives alone."""
    from PIL import Image

    mllm = with_generation(loaded(arch), max_new_tokens=6, min_new_tokens=6, temperature=1.0, top_p=1.0)
    img = Image.new("RGB", (40, 32), (200, 20, 20))
    reqs = [Request("s1", "describe this image", [img], sample_seed(42, "s1", j)) for j in range(4)]
    batched = mllm.generate(reqs)
    assert batched == [mllm.generate([r])[0] for r in reqs]
    assert len({o.text for o in batched}) > 1


_SLOW_AFTER_FIRST_BATCH = """
import sys, time
from lam3.models.base import MLLM
real, calls = MLLM.generate, []
def slow_after_first(self, requests):
    calls.append(len(requests))
    if len(calls) > 1:
        time.sleep(600)  # the test kills the process here, after the first batch is on disk
    return real(self, requests)
MLLM.generate = slow_after_first
from lam3.cli import main
sys.argv = ["lam3", *sys.argv[1:]]
main()
"""


def test_sigkill_after_the_first_batch_then_resume(bench, gen_yaml, mllm_for, tmp_path):
    """``lam3 generate`` killed with SIGKILL after its first batch, rerun: every draw once, the same texts as
    an uninterrupted run (which used another batch size)."""
    config = gen_yaml("llava", batch_size=2, num_samples=K)
    whole = tmp_path / "whole" / "response.jsonl"
    generate_file(config, bench, whole, mllm=mllm_for(config), batch_size=4)
    out = tmp_path / "killed" / "response.jsonl"
    args = ["generate", "--config", str(config), "--bench", str(bench), "--out", str(out)]
    script = tmp_path / "slow_lam3.py"
    script.write_text(_SLOW_AFTER_FIRST_BATCH)
    proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    try:
        deadline = time.monotonic() + 180
        while not (out.is_file() and out.read_text().count("\n") >= 2):
            assert proc.poll() is None, "lam3 generate ended before it was killed"
            assert time.monotonic() < deadline, "the first batch never reached the disk"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert [r["id"] for r in read_lines(out)] == ["s1#0", "s1#1"]
    assert read_manifest(out.parent).stages["generate:response.jsonl"].status == "running"
    done = subprocess.run([sys.executable, "-m", "lam3", *args, "--batch-size", "3"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    assert re.search(r"^  skipped \(already done\): 2$", done.stdout, re.M), done.stdout  # 80 columns: key: value
    ids = [r["id"] for r in read_lines(out)]
    assert len(ids) == len(set(ids)) == 5 * K  # exactly one line per id
    assert _texts(out) == _texts(whole)
    assert read_manifest(out.parent).stages["generate:response.jsonl"].status == "finished"
