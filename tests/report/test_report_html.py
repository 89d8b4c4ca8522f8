"""The HTML report: self-contained, plots render, untrusted model text never executes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from report_fixtures import XSS

from lam3.report.html import write_html_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def report(fixture_runs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html") / "report.html"
    proc = subprocess.run([sys.executable, "-m", "lam3", "report", "html", str(fixture_runs / "fixture_run"),
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def test_self_contained_and_escaped(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') >= 5  # bars ×2, distributions, heatmaps, ASR
    assert "<script" not in html.lower()  # no script element at all, only escaped text
    assert "&lt;script&gt;document.title=" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from elsewhere


def test_compare_two_runs(fixture_runs: Path, tmp_path: Path) -> None:
    result = write_html_report([fixture_runs / "fixture_run", fixture_runs / "fixture_run_b"], tmp_path / "cmp.html")
    assert result.runs == ["fixture_run", "fixture_run_b"] and result.plots >= 6
    html = result.path.read_text(encoding="utf-8")
    assert "fixture_run vs fixture_run_b" in html
    assert "Difference per category (fixture_run_b − fixture_run)" in html
    # S1 policy risk: 3/4 flagged in A, 1/4 in B (typo_img flags neutralised) → Δ −50.0%
    assert "-50.0%" in html


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="chromium / chromedriver not installed (make system-deps)")
def test_renders_in_headless_chromium_and_script_does_not_run(report: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(report.as_uri())
        assert driver.title == "LAM3 report — fixture_run"
        assert driver.execute_script("return typeof window.__lam3_pwned") == "undefined"
        assert driver.execute_script("return document.scripts.length") == 0
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.alt])")
        assert len(images) >= 5
        assert all(complete and w > 0 and h > 0 for complete, w, h, _ in images), images
        cells = driver.execute_script(
            "return Array.from(document.querySelectorAll('td.response')).map(td => td.textContent)")
        assert any(XSS in c for c in cells)  # the payload is visible as text
    finally:
        driver.quit()


def test_a_real_run_is_reported_from_its_fused_votes(tmp_path: Path) -> None:
    """Score and fuse the mini bench with the real stages, then check the report's figures against fused.jsonl."""
    import json

    from lam3.bench.mini_bench import responses_path

    repo = Path(__file__).resolve().parents[2]
    run = tmp_path / "mb_run"
    run.mkdir()

    def lam3(*args: str | Path) -> None:
        proc = subprocess.run([sys.executable, "-m", "lam3", *map(str, args)], capture_output=True, text=True,
                              timeout=180, cwd=run)
        assert proc.returncode == 0, proc.stderr

    lam3("score", responses_path(), "-c", repo / "configs" / "offline.yaml", "-o", run / "offline_scored.jsonl")
    lam3("fuse", run / "offline_scored.jsonl", "-c", repo / "configs" / "ensemble.yaml", "-o", run / "fused.jsonl")
    result = write_html_report([run])
    html = result.path.read_text(encoding="utf-8")
    fused = [json.loads(line) for line in (run / "fused.jsonl").read_text().splitlines()]
    assert "Social Toxicity fused from profanity_check; Policy Risk fused from keyword_risk; Refusal fused from " \
           "refusal" in html
    for attack in ("clean", "figstep"):
        group = [r for r in fused if r["attack"] == attack and r["category"] == "S8"]
        flagged = sum(r["policy_risk"]["flagged"] for r in group)
        row = next(line for line in html.split("<tr>") if f"<td>{attack}</td><td>S8</td>" in line)
        assert f"{100 * flagged / len(group):.1f}% ({flagged}/{len(group)})" in row
    # ASR: several responses per sample, so the interval draws samples, not responses (benign prompts are no attack)
    samples = {r["sample_id"] for r in fused if r["attack"] == "figstep" and r["category"] != "benign"}
    assert f"cluster-bootstrap-bca ({len(samples)} units)" in html
