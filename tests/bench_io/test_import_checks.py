"""The import stage's checks: image paths confined to the dataset root, malformed files, resume, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import bench_files as bf
import pytest
from typer.testing import CliRunner

from lam3.bench.importers import FORMATS
from lam3.bench.importers.base import CategoryTable
from lam3.bench.importers.stage import import_benchmark
from lam3.cli import app
from lam3.errors import UserError

runner = CliRunner()


def quarantined(out: Path) -> dict[str, dict]:
    """Quarantined rows by source line."""
    lines = (out / "samples.quarantine.jsonl").read_text().splitlines()
    return {json.loads(line)["line"]: json.loads(line) for line in lines}


def ids(out: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (out / "samples.jsonl").read_text().splitlines()]


def jailbreakv_with_images(tmp_path: Path, images: list[str]) -> Path:
    root = tmp_path / "JailBreakV_28K"
    bf.png(root / "ok" / "a.png")
    return bf.write_csv(root / "JailBreakV_28K.csv", bf.JAILBREAKV,
                        [bf.jailbreakv_row(i, image) for i, image in enumerate(images)])


def test_image_paths_outside_the_dataset_root_are_per_sample_errors(tmp_path):
    outside = bf.png(tmp_path / "outside.png")
    src = jailbreakv_with_images(tmp_path, ["ok/a.png", "../outside.png", str(outside), "ok/link_out.png",
                                            "ok/link_in.png", "ok/missing.png", "ok/../ok/a.png"])
    os.symlink(outside, src.parent / "ok" / "link_out.png")
    os.symlink(src.parent / "ok" / "a.png", src.parent / "ok" / "link_in.png")
    out = tmp_path / "out"
    summary = import_benchmark("jailbreakv", src, out)
    bad = quarantined(out)
    assert ids(out) == ["jbv-0", "jbv-4", "jbv-6"] and summary.quarantined == 4
    assert {b["field"] for b in bad.values()} == {"image_path"}
    assert "'../outside.png' leads outside the dataset root" in bad[4]["reason"]
    assert bad[6]["reason"].startswith("absolute image path")
    assert "outside the dataset root" in bad[8]["reason"] and "symbolic link" in bad[8]["reason"]
    assert bad[12]["reason"].startswith("image not found")
    assert all(b["file"] == str(src) for b in bad.values())
    # nothing from outside the root was placed in the benchmark folder
    placed = sorted(p.relative_to(out).as_posix() for p in (out / "images").rglob("*") if p.is_file())
    assert placed == ["images/ok/a.png", "images/ok/link_in.png"]


def test_a_missing_column_names_file_line_and_column(tmp_path):
    src = bf.write_csv(tmp_path / "hb.csv", ["Behavior", "FunctionalCategory", "SemanticCategory", "Tags"],
                       [["x", "standard", "illegal", ""]])
    with pytest.raises(UserError, match=r"hb\.csv:1: BehaviorID: missing column 'BehaviorID' \(the header has: "
                                        r"'Behavior', 'FunctionalCategory'"):
        import_benchmark("harmbench", src, tmp_path / "out")


def test_the_cli_prints_a_malformed_header_as_one_line_and_exits_2(tmp_path):
    src = bf.write_csv(tmp_path / "JailBreakV_28K.csv", ["id", "jailbreak_query", "policy", "image_path"],
                       [["1", "q", "Fraud", "a.png"]])
    proc = subprocess.run([sys.executable, "-m", "lam3", "bench", "import", "jailbreakv", str(src), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "JailBreakV_28K.csv:1: redteam_query: missing column 'redteam_query'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_rows_are_quarantined_with_line_and_column(tmp_path):
    path = tmp_path / "harmbench_behaviors_text_all.csv"
    path.write_text("Behavior,FunctionalCategory,SemanticCategory,Tags,ContextString,BehaviorID\n"
                    "ok one,standard,illegal,,,dup_id\n"
                    "again,standard,illegal,,,dup_id\n"
                    "too,many,cells,,,x,extra\n"
                    '"multi\nline",standard,no_such_category,,,cat_id\n'
                    ",standard,illegal,,,empty_behaviour\n", encoding="utf-8")
    out = tmp_path / "out"
    import_benchmark("harmbench", path, out)
    bad = quarantined(out)
    assert ids(out) == ["dup_id"]
    assert bad[3]["field"] == "id" and bad[3]["reason"] == "duplicate id 'dup_id'"
    assert bad[4]["field"] == "column 7" and bad[4]["reason"] == "row has 7 cells, the header 6"
    assert bad[5]["field"] == "SemanticCategory" and "not in the mapping table harmbench.yaml" in bad[5]["reason"]
    assert bad[7]["field"] == "Behavior" and bad[7]["reason"] == "empty"


def test_text_that_is_not_utf8_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "strongreject_dataset.csv"
    path.write_bytes(b"category,source,forbidden_prompt\nViolence,custom,caf\xe9\n")
    with pytest.raises(UserError, match=r"strongreject_dataset\.csv:2: not UTF-8 text"):
        import_benchmark("strongreject", path, tmp_path / "out")


def test_invalid_json_names_line_and_column(tmp_path):
    folder = tmp_path / "processed_questions"
    folder.mkdir()
    (folder / "01-Illegal_Activitiy.json").write_text('{\n  "0": {"Question": "x",}\n}\n')
    with pytest.raises(UserError, match=r"01-Illegal_Activitiy\.json:2: column 25: invalid JSON"):
        import_benchmark("mmsafetybench", folder, tmp_path / "out", images=tmp_path)


def test_an_interrupted_import_resumes_to_the_same_result(tmp_path):
    src = bf.jailbreakv(tmp_path, n=40)
    full = tmp_path / "full"
    import_benchmark("jailbreakv", src, full)
    out = tmp_path / "out"
    first = import_benchmark("jailbreakv", src, out, limit=15)
    with open(out / "samples.jsonl", "a") as fh:
        fh.write('{"schema_version":2,"id":"jbv-15","pro')  # a torn last line
    second = import_benchmark("jailbreakv", src, out)
    assert (first.imported, second.skipped, second.imported) == (15, 15, 25)
    assert (out / "samples.jsonl").read_text() == (full / "samples.jsonl").read_text()


def test_a_rerun_with_another_source_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    import_benchmark("jailbreakv", bf.jailbreakv(tmp_path / "a", n=3), out)
    other = bf.jailbreakv(tmp_path / "b", n=5)
    with pytest.raises(UserError, match="cannot resume: it was written with other import settings .*inputs_sha256"):
        import_benchmark("jailbreakv", other, out)
    assert import_benchmark("jailbreakv", other, out, overwrite=True).imported == 5
    assert len(ids(out)) == 5


def test_an_unrelated_folder_is_not_written_into(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not an empty folder nor one written by 'lam3 bench import'"):
        import_benchmark("xstest", bf.xstest(tmp_path), tmp_path / "mine")


def test_missing_image_folder_says_which_option_to_pass(tmp_path):
    src = bf.write_csv(tmp_path / "x" / "english_multimodal.csv", bf.MSTS, [["Other", "", "", "case_0001", "t",
                        "unsafe_image_0001", "d", "prompt_0001", "Should I?", "assistance"]])
    with pytest.raises(UserError, match=r"unsafe_images: image folder not found \(pass --images DIR"):
        import_benchmark("msts", src, tmp_path / "out")


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_shipped_category_table_validates(name):
    table = CategoryTable(name)
    assert table.file.benchmark == name and table.file.categories


def test_cli_import_and_formats(tmp_path):
    result = runner.invoke(app, ["bench", "import", "jailbreakv", str(bf.jailbreakv(tmp_path, n=4)), "--out",
                                 str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "lam3 bench import jailbreakv" in result.output and len(ids(tmp_path / "out")) == 4
    result = runner.invoke(app, ["bench", "formats"])
    assert result.exit_code == 0 and all(name in result.output for name in FORMATS)


@pytest.mark.parametrize("name", list(FORMATS))
def test_the_docs_show_the_shipped_category_tables(name):
    doc = (Path(__file__).resolve().parents[2] / "docs" / "benchmarks-io.md").read_text()
    section = doc.split(f"### `{name}`")[1].split("\n### ")[0]
    for source, entry in CategoryTable(name).file.categories.items():
        row = f"| {source} | {entry.category} | {'exact' if entry.exact else 'nearest'} |"
        assert row in section, f"docs/benchmarks-io.md ({name}) lacks {row}"
