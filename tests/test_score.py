"""The score stage in-process: resume, retry of errors, quarantine, judge failures."""

import json

import pytest

from lam3.errors import ConfigError, UserError
from lam3.judges import registry
from lam3.judges.base import Judge
from lam3.pipeline.score import score_file


@registry.register("_test_len")
class LengthJudge(Judge):
    """Scores text length; 'FAIL' gives a per-record error, 'CRASH' makes the whole batch raise."""

    metric = "social_toxicity"
    calls: list[int] = []

    @property
    def labels(self):
        return ["toxicity"]

    def score(self, batch):
        LengthJudge.calls.append(len(batch))
        if any(x.text == "CRASH" for x in batch):
            raise RuntimeError("judge exploded with key=hunter2")
        return [self.failure("too short") if x.text == "FAIL" else
                self.judgement({"toxicity": min(1.0, len(x.text) / 20)}) for x in batch]


def write_input(path, texts, field="response"):
    path.write_text("".join(json.dumps({"id": f"r{i}", field: t}) + "\n" for i, t in enumerate(texts)))
    return path


def write_config(path, **extra):
    body = {"batch_size": 4, "judges": [{"judge": "_test_len", "batch_size": 3}], **extra}
    path.write_text(json.dumps(body))  # JSON is valid YAML
    return path


def read(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_scores_every_record_with_judgement_keyed_by_judge(tmp_path):
    inp = write_input(tmp_path / "in.jsonl", ["a" * n for n in range(1, 11)])
    out = tmp_path / "out" / "scored.jsonl"
    s = score_file(inp, write_config(tmp_path / "c.yaml"), out)
    rows = read(out)
    assert s.scored == 10 and [r["id"] for r in rows] == [f"r{i}" for i in range(10)]
    j = rows[9]["judgements"]["_test_len"]
    assert j["scores"]["toxicity"] == pytest.approx(0.5) and j["error"] is None
    assert rows[9]["response"] == "a" * 10  # the input record is kept
    manifest = json.loads((out.parent / "manifest.json").read_text())
    assert "scored.jsonl" in manifest["artifacts"] and manifest["stages"]["score:scored.jsonl"]["summary"]["scored"] == 10


def test_rerun_skips_done_and_retry_redoes_only_errors(tmp_path):
    texts = ["aa", "FAIL", "bbbb", "FAIL", "c"]
    inp = write_input(tmp_path / "in.jsonl", texts)
    cfg = write_config(tmp_path / "c.yaml")
    out = tmp_path / "scored.jsonl"
    first = score_file(inp, cfg, out)
    assert first.errors["_test_len"] == 2
    again = score_file(inp, cfg, out)
    assert again.scored == 0 and again.skipped == 5
    # fix the input so the errored ones now succeed, then retry only them
    write_input(inp, ["aa", "ok now", "bbbb", "fine", "c"])
    retry = score_file(inp, cfg, out, retry_errors=True)
    assert retry.retried == 2 and retry.scored == 2 and retry.skipped == 3
    rows = read(out)
    assert sorted(r["id"] for r in rows) == [f"r{i}" for i in range(5)]
    assert all(r["judgements"]["_test_len"]["error"] is None for r in rows)


def test_judge_crash_becomes_per_record_error_and_secret_is_redacted(tmp_path):
    inp = write_input(tmp_path / "in.jsonl", ["x", "CRASH", "y", "z"])
    out = tmp_path / "scored.jsonl"
    score_file(inp, write_config(tmp_path / "c.yaml"), out)
    rows = read(out)
    assert len(rows) == 4
    errs = [r["judgements"]["_test_len"]["error"] for r in rows]
    assert errs[:3] == [errs[0]] * 3 and "exploded" in errs[0] and errs[3] is None  # judge batch size 3
    assert "hunter2" not in out.read_text()


def test_bad_lines_and_duplicate_ids_are_quarantined(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "a", "response": "x"}\n{"id": "a", "response": "y"}\n{broken\n'
                   '{"id": "b"}\n{"id": "c", "response": "z"}\n')
    out = tmp_path / "scored.jsonl"
    seen = []
    s = score_file(inp, write_config(tmp_path / "c.yaml"), out, on_bad=lambda b: seen.append(str(b)))
    assert [r["id"] for r in read(out)] == ["a", "c"]
    assert s.quarantined == 3
    assert seen[0] == f"{inp}:2: id: duplicate id 'a'" and seen[2] == f"{inp}:4: response: missing"
    assert len(read(tmp_path / "scored.quarantine.jsonl")) == 3


def test_text_field_override_and_limit(tmp_path):
    inp = write_input(tmp_path / "in.jsonl", ["a", "bb", "ccc"], field="output")
    out = tmp_path / "scored.jsonl"
    s = score_file(inp, write_config(tmp_path / "c.yaml"), out, text_field="output", limit=2)
    assert s.scored == 2 and len(read(out)) == 2


def test_judges_are_called_in_their_own_batch_size(tmp_path):
    LengthJudge.calls.clear()
    inp = write_input(tmp_path / "in.jsonl", ["t"] * 8)
    score_file(inp, write_config(tmp_path / "c.yaml"), tmp_path / "o.jsonl")
    assert LengthJudge.calls == [3, 1, 3, 1]  # stage batches of 4, judge batches of at most 3


def test_user_errors(tmp_path):
    inp = write_input(tmp_path / "in.jsonl", ["a"])
    with pytest.raises(UserError, match="input file not found"):
        score_file(tmp_path / "missing.jsonl", write_config(tmp_path / "c.yaml"), tmp_path / "o.jsonl")
    bad = tmp_path / "bad.yaml"
    bad.write_text("judges:\n  - judge: _test_lenn\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2: judges\[0\].judge: unknown judge '_test_lenn'"):
        score_file(inp, bad, tmp_path / "o.jsonl")
    dup = tmp_path / "dup.yaml"
    dup.write_text("judges:\n  - judge: _test_len\n  - judge: _test_len\n")
    with pytest.raises(ConfigError, match="share a key"):
        score_file(inp, dup, tmp_path / "o.jsonl")


@registry.register("_test_internal")
class InternalBatcher(LengthJudge):
    """Sub-batches by itself: must receive the stage's whole write batch."""

    batches_internally = True
    loads = 0

    def load(self):
        if self.config.batch_size == 123:
            raise OSError("no such checkpoint /models/missing")
        InternalBatcher.loads += 1


def test_internal_batcher_gets_whole_stage_batch_and_is_loaded_first(tmp_path):
    LengthJudge.calls.clear()
    InternalBatcher.loads = 0
    inp = write_input(tmp_path / "in.jsonl", ["t"] * 8)
    cfg = tmp_path / "c.yaml"
    cfg.write_text('{"batch_size": 4, "judges": [{"judge": "_test_internal", "batch_size": 3}]}')
    score_file(inp, cfg, tmp_path / "o.jsonl")
    assert LengthJudge.calls == [4, 4] and InternalBatcher.loads == 1


def test_a_judge_that_cannot_load_stops_before_writing(tmp_path):
    inp = write_input(tmp_path / "in.jsonl", ["t"] * 3)
    cfg = tmp_path / "c.yaml"
    cfg.write_text('{"judges": [{"judge": "_test_internal", "batch_size": 123}]}')
    with pytest.raises(UserError, match="judge '_test_internal' could not load: OSError: no such checkpoint"):
        score_file(inp, cfg, tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists() or (tmp_path / "o.jsonl").read_text() == ""


def test_resuming_with_another_judge_config_is_refused(tmp_path):
    """Wave 1 mixed two configs' judgements in one file; now the settings are recorded before the first line."""
    inp = write_input(tmp_path / "in.jsonl", ["a", "bb", "ccc"])
    out = tmp_path / "scored.jsonl"
    score_file(inp, write_config(tmp_path / "c.yaml"), out, limit=1)
    other = tmp_path / "other.yaml"
    other.write_text('{"batch_size": 4, "judges": [{"judge": "_test_len", "batch_size": 3, "key": "len2"}]}')
    with pytest.raises(UserError, match=r"scored.jsonl: cannot resume: it was written with other settings "
                                        r"\(judges: .*'_test_len'.* then, .*'key': 'len2'.* now\)"):
        score_file(inp, other, out)
    assert len(read(out)) == 1
    assert score_file(inp, write_config(tmp_path / "c.yaml"), out).scored == 2  # the same config resumes


def test_a_wave1_partial_output_still_resumes(tmp_path):
    """Wave 1's manifest kept only a config hash for score stages; it is the settings hash of that config."""
    inp = write_input(tmp_path / "in.jsonl", ["a", "bb", "ccc"])
    cfg = write_config(tmp_path / "c.yaml")
    out = tmp_path / "scored.jsonl"
    score_file(inp, cfg, out, limit=1)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    entry = manifest["stages"]["score:scored.jsonl"]
    manifest["lam3_manifest_version"] = 1
    manifest["stages"]["score:scored.jsonl"] = {k: entry[k] for k in ("finished", "config", "config_hash", "seed",
                                                                      "inputs", "summary")}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert score_file(inp, cfg, out).scored == 2 and len(read(out)) == 3
