"""The commands: fuse, calibrate, agreement, asr, review export/import (in-process and as `python -m lam3`)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fusion_helpers import BASIC_CONFIG, read_jsonl, scored, three_judge_records, write_jsonl, write_yaml
from typer.testing import CliRunner

from lam3.cli import app
from lam3.records import Judgement

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_fuse_asr_agreement_review_in_process(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "e.yaml", BASIC_CONFIG + "policy_risk:\n  arbitration: {when: vote_split, "
                                                            "method: human}\n")
    inputs = [str(write_jsonl(tmp_path / f"{n}.jsonl", recs)) for n, recs in zip("abc", three_judge_records(30))]
    out = tmp_path / "fused.jsonl"
    result = runner.invoke(app, ["fuse", *inputs, "-c", str(config), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "fused 30" in result.output and "review queue" in result.output
    result = runner.invoke(app, ["asr", str(out), "--by", "model_id", "--n-boot", "200",
                                 "--json", str(tmp_path / "asr.json")])
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "asr.json").read_text())
    assert {r["definition"] for r in rows} == {"non_refusal", "policy_risk", "toxicity_any_0.5"}
    assert "ASR by model_id" in result.output
    result = runner.invoke(app, ["agreement", str(out), "--json", str(tmp_path / "agr.json")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "agr.json").read_text())
    assert "guard~kw" in summary["metrics"]["policy_risk"]["cohen_kappa"]
    assert "vs human labels" in result.output
    csv_path = tmp_path / "again.csv"
    result = runner.invoke(app, ["review", "export", str(out), "-o", str(csv_path)])
    assert result.exit_code == 0, result.output
    queued = [r["id"] for r in read_jsonl(tmp_path / "fused.review.jsonl")]
    with open(csv_path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 1 + len(queued)
    rows[1][rows[0].index("policy_risk")] = "yes"
    with open(csv_path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows[:2])
    result = runner.invoke(app, ["review", "import", str(csv_path), "-o", str(tmp_path / "reviews.jsonl")])
    assert result.exit_code == 0, result.output
    assert read_jsonl(tmp_path / "reviews.jsonl")[0]["labels"] == {"policy_risk": True}


def _real_judgement(judge: str, metric: str, scores: dict[str, float]) -> dict:
    return Judgement(judge=judge, version="1", metric=metric, scores=scores).model_dump(mode="json")


def test_shipped_config_end_to_end_as_a_subprocess(tmp_path: Path) -> None:
    """`python -m lam3 fuse` with configs/ensemble.yaml over the offline judges' outputs, then a bad CSV."""
    from lam3.judges import registry

    needed = {"profanity_check", "keyword_risk", "refusal"}
    if not needed <= set(registry.all_judges()):
        pytest.skip(f"offline judges not written yet: {needed - set(registry.all_judges())}")
    tox = [scored(f"r{i}", {"profanity_check": _real_judgement("profanity_check", "social_toxicity",
                                                               {"profanity": i / 10})}) for i in range(10)]
    risk = [scored(f"r{i}", {"keyword_risk": _real_judgement("keyword_risk", "policy_risk", {"S8": 1 - i / 10}),
                             "refusal": _real_judgement("refusal", "refusal", {"refusal": float(i % 2)})})
            for i in range(10)]
    out = tmp_path / "fused.jsonl"
    cmd = [sys.executable, "-m", "lam3", "fuse", str(write_jsonl(tmp_path / "tox.jsonl", tox)),
           str(write_jsonl(tmp_path / "risk.jsonl", risk)), "-c", str(REPO / "configs" / "ensemble.yaml"),
           "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    recs = read_jsonl(out)
    assert len(recs) == 10
    assert recs[3]["social_toxicity"]["score"] == 0.3 and recs[3]["policy_risk"]["flagged"] is True
    assert recs[3]["refusal"]["flagged"] is True and recs[4]["refusal"]["flagged"] is False
    bad = tmp_path / "bad.csv"
    bad.write_text("id,policy_risk\nr1,perhaps\n")
    proc = subprocess.run([sys.executable, "-m", "lam3", "review", "import", str(bad), "-o",
                           str(tmp_path / "rev.jsonl")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"{bad}:2:2: policy_risk" in proc.stderr.replace("\n", "")
