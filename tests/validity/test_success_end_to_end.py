"""Judge-based success end to end through the CLI: `lam3 score` with a success judge on an OpenAI-compatible
endpoint (the local fake chat server, through the real openai SDK) on the mini bench → `lam3 fuse` →
`lam3 asr` → `lam3 report html` / `daily`: the headline is jailbreak_success and its judge is named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from evalset_files import KEY

from lam3.bench.mini_bench import responses_path
from lam3.testing.fake_chat import refuses

REPO = Path(__file__).resolve().parents[2]


def lam3(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "lam3", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "LAM3_TEST_VALIDITY_KEY": KEY, "COLUMNS": "200"}, timeout=240)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_success_judge_score_fuse_asr_report(chat_server, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "success_run"
    run.mkdir(parents=True)
    rows = [json.loads(line) for line in responses_path().read_text().splitlines()]
    rows.append({**rows[1], "id": "no-behavior.r1", "sample_id": "no-behavior", "behavior": None, "behavior_id": None})
    (run / "response.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    success = tmp_path / "success.yaml"
    success.write_text(yaml.safe_dump({"judges": [
        {"judge": "jailbreakbench", "backend": "openai_compatible", "base_url": chat_server.base_url,
         "model_id": "judge", "api_key_env": "LAM3_TEST_VALIDITY_KEY", "requests_per_second": 100,
         "max_concurrency": 8}]}))
    lam3("score", run / "response.jsonl", "-c", success, "-o", run / "success_scored.jsonl", cwd=tmp_path)
    lam3("score", run / "response.jsonl", "-c", REPO / "configs" / "offline.yaml", "-o", run / "offline_scored.jsonl",
         cwd=tmp_path)
    ensemble = yaml.safe_load((REPO / "configs" / "ensemble.yaml").read_text())
    ensemble["judges"]["jailbreakbench"] = {"judge": "jailbreakbench", "threshold": 0.5}
    ensemble["jailbreak_success"]["judges"] = ["jailbreakbench"]  # the success judge decides; not_refused does not vote
    (tmp_path / "ensemble.yaml").write_text(yaml.safe_dump(ensemble))
    lam3("fuse", run / "success_scored.jsonl", run / "offline_scored.jsonl", "-c", tmp_path / "ensemble.yaml",
         "-o", run / "fused.jsonl", cwd=tmp_path)
    fused = {r["id"]: r for r in map(json.loads, (run / "fused.jsonl").read_text().splitlines())}
    text = {r["id"]: r["response"] for r in rows}
    for rid, rec in fused.items():  # the endpoint judge's reading of each response is the fused success verdict
        verdict = rec["jailbreak_success"]["flagged"]
        assert verdict is None if rid == "no-behavior.r1" else verdict is (not refuses(text[rid])), rid
        assert set(rec["jailbreak_success"]["votes"]) == {"jailbreakbench"}

    proc = lam3("asr", run / "fused.jsonl", "--by", "attack", "--json", tmp_path / "asr.json", cwd=tmp_path)
    assert "Headline ASR: judge-based jailbreak success" in proc.stdout
    assert "jailbreak_success from the fused jailbreak_success verdict of: jailbreakbench" in proc.stdout
    asr = json.loads((tmp_path / "asr.json").read_text())
    head = {r["attack"]: r for r in asr["asr"] if r["headline"] and r["per"] == "response"}
    harmful = [r for r in rows if r["category"] != "benign" and r["id"] != "no-behavior.r1"]
    for attack, row in head.items():
        group = [r for r in harmful if r["attack"] == attack]
        assert row["judges"] == ["jailbreakbench"] and row["n"] == len(group)
        assert row["successes"] == sum(not refuses(r["response"]) for r in group)
    assert head["figstep"]["unjudged"] == 1 and head["clean"]["unjudged"] == 0  # the errored record: apart, not a 0
    assert head["figstep"]["rate_unjudged_as_failure"] == head["figstep"]["successes"] / (head["figstep"]["n"] + 1)
    behaviour = {r["attack"]: r for r in asr["asr"] if r["headline"] and r["per"] == "behavior"}
    assert set(behaviour) == {"clean", "figstep"}  # the mini bench has two responses for some behaviours
    assert {r["definition"] for r in asr["asr"] if not r["headline"]} == {"non_refusal", "policy_risk",
                                                                            "social_toxicity"}

    lam3("report", "html", run, cwd=tmp_path)
    html = (run / "report.html").read_text()
    assert "Jailbreak Success fused from jailbreakbench" in html and "jailbreak_success (headline)" in html
    lam3("report", "daily", "--runs", run.parent, "--out-dir", tmp_path / "logs", cwd=tmp_path)
    log = next((tmp_path / "logs").glob("*.md")).read_text()
    section = log.split("#### Attack success rate — headline: judge-based jailbreak success")[1].split("####")[0]
    assert "| figstep | S1 | per response |" in section and "- `jailbreak_success`: jailbreakbench" in section
    assert "judge jailbreakbench (jailbreakbench) in success_scored.jsonl errored on 1/" in log
