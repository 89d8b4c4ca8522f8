import json
import subprocess

import pytest

from lam3.errors import UserError
from lam3.manifest import git_info, read_manifest, sha256_file, update_manifest
from lam3.secrets import redact, redact_obj


def test_manifest_records_provenance_and_hashes(tmp_path):
    art = tmp_path / "out.jsonl"
    art.write_text('{"id": "a"}\n')
    path = update_manifest(tmp_path, stage="score:out.jsonl", config={"x": 1}, seed=42, artifacts=[art],
                           summary={"scored": 1})
    m = json.loads(path.read_text())
    assert m["artifacts"]["out.jsonl"]["sha256"] == sha256_file(art)
    stage = m["stages"]["score:out.jsonl"]
    assert stage["seed"] == 42 and len(stage["config_hash"]) == 64 and stage["summary"] == {"scored": 1}
    assert m["created"][-6] in "+-" and "T" in m["created"]  # ISO time with UTC offset
    assert {"branch", "commit", "dirty"} <= set(m["git"])
    assert "pydantic" in m["packages"]
    update_manifest(tmp_path, stage="fuse", config=None)
    assert set(read_manifest(tmp_path).stages) == {"score:out.jsonl", "fuse"}


def test_wave1_manifest_is_read_as_typed_entries(tmp_path):
    """Wave 1 kept a stage's status and settings hash in its summary, and the requested settings only in config."""
    (tmp_path / "manifest.json").write_text(json.dumps({
        "lam3_manifest_version": 1, "created": "2026-01-02T03:04:05+00:00",
        "stages": {
            "generate:response.jsonl": {
                "finished": "2026-01-02T03:05:00+00:00", "config_hash": "c" * 64, "seed": 7,
                "config": {"backend": "hf", "generation": {"max_new_tokens": 8, "do_sample": False,
                                                            "temperature": 0.2, "seed": 7}},
                "summary": {"status": "finished", "settings_hash": "s" * 64}},
            "fuse:fused.jsonl": {"finished": "2026-01-02T03:06:00+00:00", "config_hash": "f" * 64,
                                 "summary": {"status": "running"}}},
        "pipeline": {"steps": {"score:offline": {"status": "done", "fingerprint": {"inputs": {}, "config_hash": "x"},
                                                 "outputs": {}}}}}))
    m = read_manifest(tmp_path)
    gen = m.stages["generate:response.jsonl"]
    assert gen.status == "finished" and gen.settings_hash == "s" * 64
    assert gen.generation.model_dump(exclude_none=True) == {"backend": "hf", "max_new_tokens": 8, "do_sample": False,
                                                            "seed": 7}  # greedy: temperature does not apply
    fuse = m.stages["fuse:fused.jsonl"]
    assert fuse.status == "running" and fuse.started == "2026-01-02T03:06:00+00:00" and fuse.finished is None
    assert fuse.settings_hash == "f" * 64  # wave 1's fuse hashed its settings as the config
    assert m.pipeline.steps["score:offline"].status == "done"


def test_unreadable_or_newer_manifest_is_a_one_line_error(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(UserError, match=r"manifest.json: unreadable manifest .*restore it"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"lam3_manifest_version": 99}))
    with pytest.raises(UserError, match="written by a newer LAM3 .*upgrade LAM3"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"stages": {"x": {"status": "half-done"}}}))
    with pytest.raises(UserError, match=r"manifest.json: stages.x.status: Input should be 'running' or 'finished'"):
        read_manifest(tmp_path)


def test_git_info_reads_a_real_repo(tmp_path):
    subprocess.run(["git", "init", "-q", "-b", "trial"], cwd=tmp_path, check=True)
    (tmp_path / "f").write_text("x")
    subprocess.run(["git", "add", "f"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "m"], cwd=tmp_path,
                   check=True)
    info = git_info(tmp_path)
    assert info["branch"] == "trial" and len(info["commit"]) == 40 and info["dirty"] is False
    (tmp_path / "f").write_text("y")
    assert git_info(tmp_path)["dirty"] is True


def test_secrets_are_redacted(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET123")
    assert "SECRET123" not in redact("bad key sk-test-SECRET123 rejected")
    assert redact("GET /v1?key=abcdef&x=1") == "GET /v1?key=***&x=1"
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    update_manifest(tmp_path, stage="s", config={"note": "sk-test-SECRET123"})
    assert "SECRET123" not in (tmp_path / "manifest.json").read_text()
    assert redact_obj({"a": ["key=zzz"]}) == {"a": ["key=***"]}
