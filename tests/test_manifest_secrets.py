import json
import subprocess

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
    assert set(read_manifest(tmp_path)["stages"]) == {"score:out.jsonl", "fuse"}


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
