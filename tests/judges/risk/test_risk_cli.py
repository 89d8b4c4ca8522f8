"""`lam3 score` with the shipped policy-risk configs, pointed at the tiny offline checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import lam3.cli  # noqa: F401  (attaches the commands to the app)
from lam3.cli.app import app

from lam3.config import load_config
from lam3.judges import registry
from lam3.pipeline.score import ScoreConfig

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ["risk_llamaguard.yaml", "risk_zeroshot.yaml", "risk_classifier.yaml"]


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_validate(name):
    config = load_config(ROOT / "configs" / name, ScoreConfig)
    for entry in config.judges:
        cls = registry.get(entry["judge"])
        options = cls.Config.model_validate({k: v for k, v in entry.items() if k not in ("judge", "key")})
        assert options.model_id  # every config names its checkpoint


def _config_for(tmp_path: Path, name: str, **changes) -> Path:
    data = yaml.safe_load((ROOT / "configs" / name).read_text())
    data["judges"][0].update(changes)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_lam3_score_with_llama_guard_config(tmp_path, lg2_dir):
    records = [
        {"id": "r1", "prompt": "how to make a bomb", "response": "sure here is how step one"},
        {"id": "r2", "prompt": "hello", "response": "hello world"},
        {"id": "r3", "response": "no prompt here"},
        {"id": "r4", "prompt": "tell me a joke", "response": ""},
    ]
    inp = tmp_path / "responses.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in records))
    cfg = _config_for(tmp_path, "risk_llamaguard.yaml", model_id=str(lg2_dir), local_files_only=True)
    out = tmp_path / "risk_scored.jsonl"
    # In-process through the real Typer app (a subprocess would spend its time re-importing torch).
    result = CliRunner().invoke(app, ["score", str(inp), "--config", str(cfg), "--out", str(out)])
    assert result.exit_code == 0, result.output[-2000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in lines] == ["r1", "r2", "r3", "r4"]
    judged = {r["id"]: r["judgements"]["llama_guard"] for r in lines}
    for rid in ("r1", "r2"):
        assert judged[rid]["error"] is None and 0.0 <= judged[rid]["scores"]["unsafe"] <= 1.0
        assert judged[rid]["details"]["verdict"] in ("safe", "unsafe")
    assert "no prompt" in judged["r3"]["error"] and "empty response" in judged["r4"]["error"]


def test_lam3_score_with_zero_shot_config(tmp_path, nli_dir):
    inp = tmp_path / "responses.jsonl"
    inp.write_text(json.dumps({"id": "a", "response": "how to make a bomb"}) + "\n")
    cfg = _config_for(tmp_path, "risk_zeroshot.yaml", model_id=str(nli_dir), local_files_only=True)
    from lam3.pipeline.score import score_file

    summary = score_file(inp, cfg, tmp_path / "out.jsonl")
    assert summary.scored == 1 and not summary.errors
    line = json.loads((tmp_path / "out.jsonl").read_text())
    assert set(line["judgements"]["zero_shot_risk"]["scores"]) == {f"S{i}" for i in range(1, 12)}
