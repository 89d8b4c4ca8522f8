import json
import os
from unittest.mock import ANY

import pytest

from lam3.errors import UserError
from lam3.store import (DuplicateIdError, Encoded, IdIndex, JsonlWriter, Quarantine, atomic_file, atomic_write,
                        count_lines, dump_json, iter_jsonl, iter_records, parse_json, quarantine_path, repair_tail, write_jsonl)
from lam3.records import Sample


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_idindex_membership():
    idx = IdIndex(cache_kib=64)  # a tiny cache: the table spills to its temporary file
    for i in range(20000):
        assert idx.add(f"id-{i}")
    assert all(f"id-{i}" in idx for i in range(0, 20000, 7))
    assert "id-20000" not in idx
    assert not idx.add("id-5")


def test_idindex_batches_answer_per_key_across_chunks():
    idx = IdIndex()
    keys = [f"k{i}" for i in range(1200)]  # more than one statement's worth
    assert idx.add_all(keys[:700]) is None
    assert idx.present(keys) == set(keys[:700])
    assert idx.add_all(["new", "k650"]) == "k650" and "new" not in idx  # refused whole: nothing added
    assert idx.add_all(["x", "y", "x"]) == "x" and "y" not in idx
    assert idx.add_each(["k1", "z", "z", "k1199"]) == [False, True, False, True]
    assert "z" in idx and "k1199" in idx and idx.present(["k1199", "zz"]) == {"k1199"}


def test_parse_json_reads_what_json_loads_reads():
    fast_cases = ['{"a": 1, "b": [1.5, null, true], "c": "é"}', '{"a": NaN, "b": -Infinity}', '{"a": 1, "a": 2}']
    odd_cases = ['\ufeff{"a": 1}', '{"a": "\\ud800"}', "[" * 300 + "]" * 300]  # BOM, lone surrogate, deep
    for text in fast_cases + odd_cases:
        got, want = parse_json(text.encode()), json.loads(text.encode())
        assert repr(got) == repr(want), text
    with pytest.raises(json.JSONDecodeError, match="Expecting property name"):  # the standard library's message
        parse_json(b"{not json")


def test_dump_json_writes_what_json_dumps_writes():
    record = {"id": "a", "x": [1, 2.5, None, True], "nan": float("nan"), "s": "é\u2028\x00", "big": 10**30, 3: "k"}
    assert parse_json(dump_json(record)) == json.loads(json.dumps(record, ensure_ascii=False)) | {"nan": ANY}
    assert dump_json({"s": "é", "n": float("-inf")}) == '{"s":"é","n":-Infinity}'
    with pytest.raises(TypeError):  # what neither encoder knows fails as json.dumps fails
        dump_json({"x": object()})


def test_reader_quarantines_lines_json_refuses_in_any_way(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "a"}\n' + b"[" * 5000 + b"]" * 5000 + b'\n{"id": 1' + b"0" * 5000 + b'}\n{"id": "b"}\n')
    q = Quarantine(tmp_path / "q.jsonl")
    assert [o["id"] for _, o in iter_jsonl(src, quarantine=q)] == ["a", "b"]  # too deep, too long a number
    q.close()
    assert [b["line"] for b in lines(tmp_path / "q.jsonl")] == [2, 3]


def test_writer_takes_encoded_records_as_they_are(tmp_path):
    out = tmp_path / "out.jsonl"
    with JsonlWriter(out) as w:
        w.write_batch([Encoded.of({"id": "a", "x": 1}), Encoded.of(Sample(id="b", prompt="p", category="S1"))])
        with pytest.raises(DuplicateIdError, match="duplicate id 'a'"):
            w.write_batch([Encoded("a", '{"id":"a"}')])
    assert [r["id"] for r in lines(out)] == ["a", "b"] and lines(out)[1]["prompt"] == "p"


def test_reader_quarantines_bad_lines_and_continues(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "response": "x"}\nnot json\n[1]\n{"response": "no id"}\n{"id": "", "response": "y"}\n'
                   '{"id": 7, "response": "z"}\n')
    q = Quarantine(tmp_path / "q.jsonl")
    got = list(iter_jsonl(src, quarantine=q, required=("response",)))
    q.close()
    assert [(n, o["id"]) for n, o in got] == [(1, "a"), (6, "7")]
    bad = lines(tmp_path / "q.jsonl")
    assert [(b["line"], b["field"]) for b in bad] == [(2, None), (3, None), (4, "id"), (5, "id")]
    assert bad[0]["reason"].startswith("invalid JSON") and bad[0]["raw"] == "not json"


def test_reader_without_quarantine_raises_file_line_field(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a"}\n{"id": "b"}\n')
    with pytest.raises(UserError, match=r"in.jsonl:1: response: missing"):
        list(iter_jsonl(src, required=("response",)))


def test_torn_last_line_is_reported_not_fatal(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a"}\n{"id": "b", "respo')
    q = Quarantine(tmp_path / "q.jsonl")
    assert [o["id"] for _, o in iter_jsonl(src, quarantine=q)] == ["a"]
    q.close()
    assert lines(tmp_path / "q.jsonl")[0]["reason"] == "torn last line (incomplete write)"
    assert count_lines(src) == 2


def test_iter_records_quarantines_validation_errors_with_field(tmp_path):
    src = tmp_path / "s.jsonl"
    src.write_text('{"id": "a", "prompt": "p", "category": "S1"}\n{"id": "b", "category": "S2"}\n')
    q = Quarantine(tmp_path / "q.jsonl")
    got = [s.id for _, s in iter_records(src, Sample, quarantine=q)]
    q.close()
    assert got == ["a"]
    assert lines(tmp_path / "q.jsonl")[0]["field"] == "prompt"


def test_writer_repairs_torn_tail_and_resumes(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "x"')
    assert repair_tail(out) == len('{"id": "c", "x"')
    out.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "x"')
    with JsonlWriter(out) as w:
        assert w.repaired_bytes > 0 and w.existing == 2
        assert "a" in w and "c" not in w
        w.write_batch([{"id": "c", "v": 1}])
    assert [r["id"] for r in lines(out)] == ["a", "b", "c"]


def test_writer_refuses_duplicate_ids(tmp_path):
    out = tmp_path / "out.jsonl"
    with JsonlWriter(out) as w:
        w.write_batch([{"id": "a"}])
        with pytest.raises(DuplicateIdError, match="duplicate id 'a'"):
            w.write_batch([{"id": "a"}])
    out.write_text('{"id": "a"}\n{"id": "a"}\n')
    with pytest.raises(DuplicateIdError, match=r"out.jsonl:2: id: duplicate"):
        JsonlWriter(out)


def test_writer_drop_rewrites_atomically(tmp_path):
    out = tmp_path / "out.jsonl"
    write_jsonl(out, [{"id": "a", "err": None}, {"id": "b", "err": "x"}, {"id": "c", "err": None}])
    with JsonlWriter(out, drop=lambda r: r["err"] is not None) as w:
        assert w.dropped == 1 and "b" not in w and "c" in w
    assert [r["id"] for r in lines(out)] == ["a", "c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.jsonl.lock", "out.jsonl"]  # no temp file left


def test_atomic_file_replaces_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "report.md"
    atomic_write(path, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_file(path) as fh:
            fh.write("half of the new")
            raise RuntimeError("crash mid-write")
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.path.isdir(f"/proc/self/fd/{fd}")), real(fd)))
    atomic_write(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert synced == [False, True]  # the file, then the folder that holds the rename


def test_writer_fsyncs_each_batch(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    with JsonlWriter(tmp_path / "o.jsonl") as w:
        before = len(calls)
        w.write_batch([{"id": "1"}, {"id": "2"}])
        assert len(calls) == before + 1


def test_quarantine_path_naming(tmp_path):
    assert quarantine_path(tmp_path / "toxicity_scored.jsonl").name == "toxicity_scored.quarantine.jsonl"


def test_missing_input_file_is_user_error(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        list(iter_jsonl(tmp_path / "missing.jsonl"))
