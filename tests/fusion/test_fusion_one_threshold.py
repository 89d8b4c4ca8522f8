"""Bug 2 of the redesign issue: one owner for each decision, checked through `lam3 score` → `lam3 fuse`.

Wave 1 had two thresholds and one of them was dead: changing every judge threshold from 0.5 to
0.95 changed 46 `flagged` lists and 0 fused records, and a label-type judge's own decision (Llama
Guard mode: generate, OpenAI flag_by: api) never reached the fused verdict. Here a judge's
threshold lives in the ensemble config and decides its vote, which decides the fused verdict;
a label-type judge votes with its verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fusion_helpers import read_jsonl, response, write_jsonl, write_yaml
from typer.testing import CliRunner

from lam3.bench.mini_bench import responses_path
from lam3.cli import app
from lam3.errors import ConfigError
from lam3.records import METRICS
from lam3.testing.fake_apis import FakeModerationServer

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def lam3(*args: str | Path) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def fused_verdicts(path: Path) -> dict[tuple[str, str], bool | None]:
    return {(r["id"], m): r[m]["flagged"] for r in read_jsonl(path) for m in METRICS if r[m]["votes"]}


def test_changing_the_judge_thresholds_changes_the_fused_verdicts(tmp_path: Path) -> None:
    """The issue's experiment on the shipped configs: every judge threshold 0.5 → 0.95."""
    scored = tmp_path / "scored.jsonl"
    lam3("score", responses_path(), "-c", REPO / "configs" / "offline.yaml", "-o", scored)
    shipped = yaml.safe_load((REPO / "configs" / "ensemble.yaml").read_text())
    strict = {**shipped, "judges": {k: {**j, "threshold": 0.95} for k, j in shipped["judges"].items()}}
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(strict))
    lam3("fuse", scored, "-c", REPO / "configs" / "ensemble.yaml", "-o", tmp_path / "a" / "fused.jsonl")
    lam3("fuse", scored, "-c", tmp_path / "strict.yaml", "-o", tmp_path / "b" / "fused.jsonl")
    before, after = fused_verdicts(tmp_path / "a" / "fused.jsonl"), fused_verdicts(tmp_path / "b" / "fused.jsonl")
    changed = {k for k in before if before[k] != after[k]}
    # exactly the verdicts whose judge probability lies in [0.5, 0.95) flip, and nothing else
    expected = {(r["id"], m) for r in read_jsonl(tmp_path / "a" / "fused.jsonl") for m in METRICS
                if any(0.5 <= p < 0.95 for p in r[m]["probabilities"].values())}
    assert changed == expected and len(changed) >= 20
    assert all(before[k] is True and after[k] is False for k in changed)


def test_a_label_type_verdict_decides_the_fused_verdict(tmp_path: Path) -> None:
    """Scripted guard answers whose verdict contradicts their probability: the verdict wins, the threshold is refused."""
    cases = [("lo-yes", 0.2, True), ("hi-no", 0.9, False), ("hi-yes", 0.8, True), ("lo-no", 0.1, False)]
    records = [response(rid, {"guard": {"scores": {"unsafe": p, "S8": p}, "verdict": {"policy_risk": v}}})
               for rid, p, v in cases]
    source = write_jsonl(tmp_path / "response.jsonl", records)
    (tmp_path / "score.yaml").write_text("judges:\n  - {judge: fusion_guard, key: guard, script: guard}\n")
    scored = tmp_path / "scored.jsonl"
    lam3("score", source, "-c", tmp_path / "score.yaml", "-o", scored)
    assert [r["judgements"]["guard"]["verdict"] for r in read_jsonl(scored)] == [{"policy_risk": v} for *_, v in cases]
    config = write_yaml(tmp_path / "e.yaml", "judges:\n  guard: {judge: fusion_guard, score_label: {policy_risk: unsafe}}\n")
    lam3("fuse", scored, "-c", config, "-o", tmp_path / "fused.jsonl")
    fused = {r["id"]: r["policy_risk"] for r in read_jsonl(tmp_path / "fused.jsonl")}
    assert {rid: (fused[rid]["flagged"], fused[rid]["votes"]["guard"]) for rid, *_ in cases} == {
        rid: (v, v) for rid, _, v in cases}
    assert fused["lo-yes"]["probabilities"] == {"guard": 0.2}
    # a threshold for a judge that decides by its own verdict would be ignored: it is an error
    both = write_yaml(tmp_path / "both.yaml", "judges:\n  guard:\n    judge: fusion_guard\n    threshold: 0.3\n")
    result = runner.invoke(app, ["fuse", str(scored), "-c", str(both), "-o", str(tmp_path / "f2.jsonl")])
    assert isinstance(result.exception, ConfigError)  # `lam3` prints it as one line and exits 2
    assert str(result.exception).startswith(
        f"{both}:4: judges.guard.threshold: judge 'guard' decides policy_risk by its own verdict")


@pytest.fixture
def moderation(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-LAM3FAKE-one-threshold")
    with FakeModerationServer(openai_key="sk-LAM3FAKE-one-threshold", lifetime_s=120) as server:
        yield server


def test_openai_flag_by_api_reaches_the_fused_verdict(tmp_path: Path, moderation: FakeModerationServer) -> None:
    """The real OpenAI judge over the local API server: the API's own flag decides, not a probability."""
    texts = {"violent": "kill the moron", "theft": "steal the car", "calm": "a calm afternoon"}
    source = write_jsonl(tmp_path / "response.jsonl", [{"id": k, "response": t} for k, t in texts.items()])
    fast = {"requests_per_second": 50, "backoff_initial_s": 0.02, "backoff_max_s": 0.1, "timeout_s": 5,
            "send_images": False, "base_url": moderation.url + "/v1"}
    outs = {}
    for flag_by in ("api", "ensemble"):
        config = tmp_path / f"score_{flag_by}.yaml"
        config.write_text(yaml.safe_dump({"judges": [{"judge": "openai_moderation", "key": "openai",
                                                      "flag_by": flag_by, **fast}]}))
        outs[flag_by] = tmp_path / f"scored_{flag_by}.jsonl"
        lam3("score", source, "-c", config, "-o", outs[flag_by])
    # P(policy risk) read from one label, so the probability and the API's flag can disagree:
    # "kill the moron" is flagged for violence (→ S1) while its 'illicit' score is low
    judged = {r["id"]: r["judgements"]["openai"] for r in read_jsonl(outs["api"])}
    assert judged["violent"]["verdict"]["policy_risk"] is True and judged["violent"]["scores"]["illicit"] < 0.5
    label = "judges:\n  openai: {judge: openai_moderation, score_label: {policy_risk: illicit}%s}\n"
    lam3("fuse", outs["api"], "-c", write_yaml(tmp_path / "api.yaml", label % ""), "-o", tmp_path / "api" / "f.jsonl")
    lam3("fuse", outs["ensemble"], "-c", write_yaml(tmp_path / "ens.yaml", label % ", threshold: 0.5"),
         "-o", tmp_path / "ens" / "f.jsonl")
    by_api = {r["id"]: r["policy_risk"] for r in read_jsonl(tmp_path / "api" / "f.jsonl")}
    by_threshold = {r["id"]: r["policy_risk"] for r in read_jsonl(tmp_path / "ens" / "f.jsonl")}
    for rid in texts:
        assert by_api[rid]["flagged"] is judged[rid]["verdict"]["policy_risk"]
        p = by_threshold[rid]["probabilities"]["openai"]
        assert by_threshold[rid]["flagged"] is (p >= 0.5)
    assert by_api["violent"]["flagged"] is True and by_threshold["violent"]["flagged"] is False
    assert json.dumps(by_api).count("sk-LAM3FAKE") == 0
