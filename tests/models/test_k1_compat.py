"""``num_samples: 1`` (the default) writes what LAM3 wrote before ``num_samples`` existed: same ids, seeds, texts.

The expectations in ``data/k1_*.jsonl`` were recorded by running this very test against the code of
commit 1442967 (the last one before ``num_samples``), exported into a scratch folder::

    git archive 1442967 src | tar -x -C /tmp/lam3-old
    LAM3_RECORD_K1=1 PYTHONPATH=/tmp/lam3-old/src .venv/bin/python -m pytest -q -p no:cacheprovider \\
        tests/models/test_k1_compat.py

In recording mode the test writes the files instead of comparing (and is skipped). It uses only APIs
that existed then (``generate_file``, ``load_mllm``) so the old code can run it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
RECORD = bool(os.environ.get("LAM3_RECORD_K1"))
FIELDS = ("id", "sample_id", "seed", "response", "usage")


def _kept(path: Path) -> list[dict]:
    """What must not change; an error is kept as whether there was one (its text names a temporary path)."""
    return [{**{k: rec.get(k) for k in FIELDS}, "error": bool(rec.get("error"))}
            for rec in map(json.loads, path.read_text().splitlines())]


@pytest.mark.parametrize("mode, generation", [
    ("sampled", {}),  # the conftest defaults: temperature 1.0, top_p 0.95, seed 7, 2..6 new tokens
    ("greedy", {"do_sample": False, "temperature": None}),
])
def test_k1_outputs_are_those_of_the_code_before_num_samples(mode, generation, bench, gen_yaml, tmp_path):
    import yaml

    from lam3.config import load_config
    from lam3.manifest import read_manifest
    from lam3.models import load_mllm
    from lam3.models.config import GenerateConfig
    from lam3.pipeline.generate import generate_file

    config = gen_yaml("llava", batch_size=3)
    if generation:
        data = yaml.safe_load(config.read_text())
        data["generation"] = {k: v for k, v in {**data["generation"], **generation}.items() if v is not None}
        config.write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = load_config(config, GenerateConfig)
    out = tmp_path / "run" / "response.jsonl"
    generate_file(config, bench, out, mllm=load_mllm(cfg.model, cfg.generation))
    got = _kept(out)
    # the settings a resume must match, but the model's (it names this test's temporary cache)
    settings = {k: v for k, v in read_manifest(out.parent).stages["generate:response.jsonl"].settings.items()
                if k != "model"}
    expected_file, settings_file = DATA / f"k1_{mode}.jsonl", DATA / f"k1_{mode}.settings.json"
    if RECORD:
        DATA.mkdir(exist_ok=True)
        expected_file.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in got))
        settings_file.write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"recorded {expected_file}")
    expected = [json.loads(line) for line in expected_file.read_text().splitlines()]
    # equal settings → equal settings hash: an output the old code left half-written resumes
    assert settings == json.loads(settings_file.read_text())
    assert [r["id"] for r in got] == ["s1", "s2", "s3", "s4", "s5"]
    assert got == expected
    assert sum(bool(r["response"]) for r in got) == 4  # s3's image is missing: an error, as before
