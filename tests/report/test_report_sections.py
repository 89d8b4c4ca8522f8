"""The HTML report's validity sections on runs made by the real stages, checked against `lam3 asr --json`
and against fused.jsonl: per-cell ASR (forest plot + table), paired differences, judge cards,
reliability diagrams and the responses shown per cell."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from staged_runs import HOSTILE, HOSTILE_BEHAVIOR, LONG_TAIL, Page, fused_lines, lam3, parse, pct

from lam3.fusion.calibration import expected_calibration_error
from lam3.fusion.labels import LABEL_FIELDS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENS = os.environ.get("LAM3_REPORT_SCREENS")  # e.g. /work/research/report-screens: keep the screenshots


def png_size(img: dict[str, str | None]) -> tuple[int, int]:
    src = img["src"] or ""
    assert src.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).size


def figure(page: Page, section: str, alt_starts: str) -> tuple[int, int]:
    found = [i for i in page.images.get(section, []) if (i.get("alt") or "").startswith(alt_starts)]
    assert len(found) == 1, page.images.get(section)
    return png_size(found[0])


@pytest.fixture(scope="module")
def mb(mb_run: Path) -> Page:
    return parse(mb_run / "report.html")


@pytest.fixture(scope="module")
def pair(pair_run: Path) -> Page:
    return parse(pair_run / "report.html")


# --- 1. ASR per category × attack -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["mb", "pair"])
def test_cell_asr_table_has_the_numbers_of_lam3_asr(name: str, request: pytest.FixtureRequest) -> None:
    run: Path = request.getfixturevalue(f"{name}_run")
    page: Page = request.getfixturevalue(name)
    expected = {(r["category"], r["attack"], r["model_id"]): r for r in json.loads((run / "asr.json").read_text())["asr"]
                if r["per"] == "response" and r["definition"] == "jailbreak_success"}
    rows = page.rows("asr-cells-1")
    assert len(rows) == len(expected) > 10
    for row in rows:
        e = expected[(row["category"], row["attack"], row["model"])]
        assert row["definition"] == "jailbreak_success (headline)"
        assert (int(row["n"]), int(row["successes"]), int(row["unjudged"])) == (e["n"], e["successes"], e["unjudged"])
        assert row["ASR"] == pct(e["rate"]) and row["95% CI"] == f"{pct(e['ci_low'])} – {pct(e['ci_high'])}"
        assert row["interval"] == f"{e['interval']} ({e['units']} units)"
        assert row["judges"] == ", ".join(e["judges"])
        shown = [t for c, t in zip(e["corrected"], e["corrected_text"]) if c["interval"]]
        assert row["corrected (Rogan–Gladen)"] == ("; ".join(shown) or "—")
    # grouped by category in the taxonomy's order, clean first within a category
    cats = [r["category"] for r in rows]
    assert cats == sorted(cats, key=lambda c: int(c[1:])) and rows[0]["attack"] == "clean"
    width, height = figure(page, "asr-cells-1", "ASR per category and attack")
    assert width > 500 and height > 22 * len(rows)  # one row per cell


def test_cell_asr_names_judges_and_puts_the_corrected_rate_beside_the_raw_one(mb: Page, pair: Page) -> None:
    text = mb.text("asr-cells-1")
    assert "jailbreak_success: fused from not_refused." in text
    assert "judge not_refused: acc 0.79 [0.74, 0.83] on PyRIT 1.1.0 objective (14 CSVs) (n=395)" in text
    corrected = [r for r in mb.rows("asr-cells-1") if r["corrected (Rogan–Gladen)"].startswith("corrected ")]
    assert corrected and all(r["ASR"].endswith("%") for r in corrected)  # the raw rate stays in its column
    # the second success judge changes the fusion: the fused card does not apply, so no corrected rate
    text = pair.text("asr-cells-1")
    assert "jailbreak_success: fused from not_refused, not_refused_opening." in text
    assert "no correction from PyRIT 1.1.0 objective (14 CSVs): the card does not apply: jailbreak_success is " \
           "fused differently" in text
    assert {r["corrected (Rogan–Gladen)"] for r in pair.rows("asr-cells-1")} == {"—"}


def test_a_run_without_success_verdicts_shows_the_older_definitions_labelled(fixture_runs: Path,
                                                                             tmp_path: Path) -> None:
    lam3("report", "html", fixture_runs / "fixture_run", "--out", tmp_path / "r.html", cwd=tmp_path)
    page = parse(tmp_path / "r.html")
    assert "No jailbreak_success verdicts in this run" in page.text("asr-cells-1")
    rows = page.rows("asr-cells-1")
    assert {r["definition"] for r in rows} == {"social_toxicity (older)", "policy_risk (older)",
                                               "non_refusal (older)"}
    s1 = {r["definition"]: r for r in rows if (r["category"], r["attack"]) == ("S1", "typo_img")}
    assert s1["policy_risk (older)"]["ASR"] == "100.0%" and s1["non_refusal (older)"]["n"] == "2"
    figure(page, "asr-cells-1", "ASR per category and attack")


# --- 2. paired differences ------------------------------------------------------------------------
def test_paired_differences_match_lam3_asr_paired(pair_run: Path, pair: Page) -> None:
    expected = {r["definition"]: r for r in json.loads((pair_run / "paired.json").read_text())["paired"]}
    rows = pair.rows("paired-1")
    assert [r["definition"].removesuffix(" (headline)") for r in rows] == list(expected)
    assert rows[0]["definition"] == "jailbreak_success (headline)"
    for row in rows:
        e = expected[row["definition"].removesuffix(" (headline)")]
        assert row["attack − baseline"] == "figstep − clean" and row["model"] == e["model_id"]
        assert (int(row["pairs"]), int(row["unpaired"])) == (e["pairs"], e["unpaired"])
        assert e["pairs"] > 40 and e["unpaired"] == 0  # every sample was answered under both
        assert row["ASR attack"] == pct(e["rate_a"]) and row["ASR baseline"] == pct(e["rate_b"])
        assert row["difference"] == pct(e["difference"])
        assert row["95% CI"] == f"{pct(e['ci_low'])} – {pct(e['ci_high'])}"
        assert row["McNemar p"] == ("—" if e["p_value"] is None else f"{e['p_value']:.3g}")
    assert expected["jailbreak_success"]["p_value"] is not None  # binary pairs: McNemar's test is given
    figure(pair, "paired-1", "paired ASR differences")


def test_no_pair_is_said_in_one_line(mb: Page) -> None:
    assert "No paired differences: no sample (sample_id) was judged both under clean and under an attack" \
        in mb.text("paired-1")
    assert "paired-1" not in mb.tables


# --- 4. judge cards -------------------------------------------------------------------------------
def test_cards_that_apply_are_drawn_and_a_mismatch_is_listed_with_its_reason(mb_run: Path, mb: Page,
                                                                             pair_run: Path, pair: Page) -> None:
    for run, page in ((mb_run, mb), (pair_run, pair)):
        cards = json.loads((run / "asr.json").read_text())["cards"]
        rows = page.rows("cards-1")
        assert len(rows) == len(cards)
        for row, card in zip(rows, cards):
            assert row["metric"] == card["metric"] and row["card"] == card["source"]
            assert row["dataset"].startswith(card["dataset"])
            if card["applies"]:
                assert row["applies"] == "yes"
            else:
                assert row["applies"] == "no — not used: " + "; ".join(card["reasons"])
    assert {r["applies"] for r in mb.rows("cards-1")} == {"yes"}
    fused_success = {r["dataset"].split(" (")[0]: r for r in mb.rows("cards-1")
                     if r["entry"] == "fused verdict" and r["metric"] == "jailbreak_success"}
    objective = fused_success["PyRIT 1.1.0 objective"]
    assert (objective["n"], objective["accuracy"]) == ("395", "0.79 [0.74, 0.83]")
    assert objective["dataset"].startswith("PyRIT 1.1.0 objective (14 CSVs) (pyrit_objective, ")
    harmbench = fused_success["HarmBench text classifier validation set"]
    assert (harmbench["n"], harmbench["accuracy"]) == ("596", "0.71 [0.67, 0.75]")
    mismatched = {r["entry"] for r in pair.rows("cards-1") if r["applies"] != "yes"}
    assert mismatched == {"judge not_refused_opening (not_refused)", "fused verdict"}
    assert any("score config differs" in r["applies"] for r in pair.rows("cards-1"))
    # the figure has one row per entry that applies: 4 in mb, 3 in pair
    assert figure(mb, "cards-1", "judge card figures")[1] > figure(pair, "cards-1", "judge card figures")[1]


def test_no_card_is_said(fixture_runs: Path, tmp_path: Path) -> None:
    lam3("report", "html", fixture_runs / "fixture_run", "--out", tmp_path / "r.html", cwd=tmp_path)
    assert "No judge cards beside fused.jsonl" in parse(tmp_path / "r.html").text("cards-1")


# --- 3. calibration -------------------------------------------------------------------------------
def test_reliability_table_matches_the_fused_probabilities_and_labels(mb_run: Path, mb: Page) -> None:
    points: dict[tuple[str, str], tuple[list[float], list[int]]] = defaultdict(lambda: ([], []))
    for rec in fused_lines(mb_run):
        for metric, label in LABEL_FIELDS.items():
            truth = (rec.get("labels") or {}).get(label)
            if truth is None:
                continue
            for judge, p in rec[metric]["probabilities"].items():
                points[(judge, metric)][0].append(p)
                points[(judge, metric)][1].append(int(truth))
    rows = mb.rows("calibration-1")
    assert {(r["judge"], r["metric"]) for r in rows} == set(points) == {
        ("profanity_check", "social_toxicity"), ("keyword_risk", "policy_risk"), ("refusal", "refusal"),
        ("not_refused", "jailbreak_success")}
    for row in rows:
        ps, ys = points[(row["judge"], row["metric"])]
        assert (int(row["n"]), int(row["with label"])) == (len(ps), sum(ys))
        assert row["ECE"] == f"{expected_calibration_error(ps, ys):.3f}"
        counts = Counter(min(int(p * 10), 9) for p in ps)  # the documented rule: 1.0 falls in the last bin
        shown = [part.split(": ") for part in row["bins (range: n, mean probability → observed)"].split("; ")]
        assert [(lo_hi, int(rest.split(",")[0])) for lo_hi, rest in shown] == [
            (f"{b / 10:.1f}–{(b + 1) / 10:.1f}", counts[b]) for b in sorted(counts)]
        observed = {b: np.mean([y for p, y in zip(ps, ys) if min(int(p * 10), 9) == b]) for b in counts}
        assert [rest.split("→ ")[1] for _, rest in shown] == [f"{observed[b]:.2f}" for b in sorted(counts)]
    figure(mb, "calibration-1", "reliability diagrams")


def test_no_labels_means_one_line(fixture_runs: Path, tmp_path: Path) -> None:
    lam3("report", "html", fixture_runs / "fixture_run", "--out", tmp_path / "r.html", cwd=tmp_path)
    assert "No calibration curves: no human labels in fused.jsonl" in parse(tmp_path / "r.html").text(
        "calibration-1")


# --- 5. responses per cell ------------------------------------------------------------------------
def _expected_pick(run: Path, per_cell: int) -> dict[tuple[str, str, str], tuple[int, list[str]]]:
    """The documented rule, from fused.jsonl: most disputed first, then the lowest blake2b rank of the id."""
    cells: dict[tuple[str, str, str], list[tuple[float, int, int, str]]] = defaultdict(list)
    for line, rec in enumerate(fused_lines(run), 1):
        split = 0.0
        for m in LABEL_FIELDS:
            votes = [v for v in rec[m]["votes"].values() if v is not None]
            if votes and rec[m]["disagreement"]:
                split = max(split, min(sum(votes), len(votes) - sum(votes)) / len(votes))
        rank = int.from_bytes(hashlib.blake2b(rec["id"].encode(), digest_size=8).digest(), "big")
        cells[(rec["category"], rec["attack"], rec["model_id"])].append((-split, rank, line, rec["id"]))
    return {k: (len(v), [e[3] for e in sorted(v)[:per_cell]]) for k, v in cells.items()}


def _shown(page: Page) -> dict[tuple[str, str, str], tuple[int, list[str]]]:
    out = {}
    for heading, table in zip(page.headings["cell-responses-1"][1:], page.tables["cell-responses-1"]):
        cell, counts = heading.split(" (")
        category, attack, model = cell.split(" · ")
        of = int(counts.split(" of ")[1].split()[0])
        out[(category, attack, model)] = (of, [row[0].split()[0] for row in table[1:]])
    return out


def test_responses_per_cell_are_the_most_disputed_then_a_fixed_pick(pair_run: Path, pair: Page) -> None:
    expected = _expected_pick(pair_run, 3)
    shown = _shown(pair)
    assert shown == expected
    assert any(n > 3 for n, _ in shown.values())  # a pick, not everything
    # grouped by category (S1 … S11 in order), clean first within each
    assert [k[:2] for k in shown] == sorted((k[:2] for k in shown), key=lambda k: (int(k[0][1:]), k[1] != "clean"))


def test_responses_per_cell_is_configurable(pair_run: Path, tmp_path: Path) -> None:
    lam3("report", "html", pair_run, "--out", tmp_path / "one.html", "--responses-per-cell", "1", cwd=tmp_path)
    assert _shown(parse(tmp_path / "one.html")) == _expected_pick(pair_run, 1)
    lam3("report", "html", pair_run, "--out", tmp_path / "none.html", "--responses-per-cell", "0", cwd=tmp_path)
    page = parse(tmp_path / "none.html")
    assert "Not shown (--responses-per-cell 0)." in page.text("cell-responses-1")
    assert "cell-responses-1" not in page.tables
    bad = subprocess.run([sys.executable, "-m", "lam3", "report", "html", str(pair_run), "--out",
                          str(tmp_path / "x.html"), "--responses-per-cell", "-1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--responses-per-cell" in bad.stderr


def test_each_judge_vote_and_the_fused_verdict_are_shown(pair_run: Path, pair: Page) -> None:
    rec = next(r for r in fused_lines(pair_run) if r["id"] == "hostile.figstep")
    row = next(row for table in pair.tables["cell-responses-1"] for row in table if row[0] == "hostile.figstep")
    votes = row[1]
    js = rec["jailbreak_success"]
    assert f"Jailbreak Success: {'flagged' if js['flagged'] else 'not flagged'} {js['score']:.2f}" in votes
    for judge, vote in js["votes"].items():
        assert f"{judge}: {'flag' if vote else 'ok'} ({js['probabilities'][judge]:.2f})" in votes
    assert "human: " in votes  # the mini bench's labels travel with the record


def test_hostile_text_stays_text_and_long_text_is_cut_with_a_note(pair: Page) -> None:
    assert not [e for e in pair.elements if e.tag == "script"]
    assert not [e for e in pair.elements if any(a.lower().startswith("on") for a in e.attrs)]
    images = [e for e in pair.elements if e.tag == "img"]
    assert images and all((e.attrs.get("src") or "").startswith("data:image/png;base64,") for e in images)
    row = next(row for table in pair.tables["cell-responses-1"] for row in table if row[0] == "hostile.figstep")
    behaviour, response = row[2], row[4]
    assert behaviour == HOSTILE_BEHAVIOR
    assert response.startswith(HOSTILE)
    assert response.endswith(f"… [cut: first 600 of {len(HOSTILE) + 1 + len(LONG_TAIL)} characters shown]")


# --- the page in a real browser -------------------------------------------------------------------
@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium / chromedriver not installed (make system-deps)")
@pytest.mark.parametrize("name", ["mb", "pair"])
def test_opens_offline_in_headless_chromium(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    run: Path = request.getfixturevalue(f"{name}_run")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get((run / "report.html").as_uri())
        assert driver.execute_script("return typeof window.__lam3_pwned") == "undefined"
        assert driver.execute_script("return document.scripts.length") == 0
        assert driver.execute_script("return document.querySelectorAll('[onerror],[onmouseover]').length") == 0
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])")
        assert all(complete and w > 0 for complete, w, _ in images), images
        alts = [alt for _, _, alt in images]
        for alt in ("ASR per category and attack", "judge card figures", "reliability diagrams"):
            assert any(a.startswith(alt) for a in alts), alts
        assert any(a.startswith("paired ASR differences") for a in alts) == (name == "pair")
        cells = driver.execute_script(
            "return Array.from(document.querySelectorAll('#cell-responses-1 td.response')).map(td => td.textContent)")
        assert any(HOSTILE in c for c in cells) == (name == "pair")
        size = driver.execute_script("return [document.documentElement.scrollWidth, "
                                     "document.documentElement.scrollHeight]")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False})
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    finally:
        driver.quit()
    png = base64.b64decode(shot["data"])
    Image.MAX_IMAGE_PIXELS = None
    width, height = Image.open(io.BytesIO(png)).size
    assert width >= 1200 and height == size[1] > 3000  # the full page, not the 900-pixel window
    (tmp_path / f"report-{name}.png").write_bytes(png)
    if SCREENS:
        Path(SCREENS).mkdir(parents=True, exist_ok=True)
        (Path(SCREENS) / f"report-{name}.png").write_bytes(png)
