"""`lam3 view` in real headless Chromium: filter, search, open, label, re-fuse; hostile text never runs."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from viewer_fixtures import ENSEMBLE_CONFIG, N, XSS, copy_run, lam3, read_jsonl

from lam3.testing.view_process import running_viewer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="chromium / chromedriver not installed (make system-deps)")


@pytest.fixture(scope="module")
def browser_run(run1k: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_run(run1k, tmp_path_factory.mktemp("browser") / "run1k")


@pytest.fixture(scope="module")
def viewer_url(browser_run: Path) -> Iterator[str]:
    with running_viewer(browser_run, "--reviewer", "selenium") as (url, token):
        yield f"{url}/#token={token}"


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1500,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield d
    finally:
        d.quit()


def wait_for(driver, condition, timeout: float = 20):
    """Poll ``condition`` until it is truthy; an element replaced by a re-render meanwhile just means "poll again"."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: condition(d))


def count_text(driver) -> str:
    return driver.find_element("id", "count").text


def wait_total(driver, total: int) -> None:
    wait_for(driver, lambda d: count_text(d).endswith(f"of {total:,}"))


def choose(driver, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", element_id)).select_by_value(value)


def search(driver, text: str) -> None:
    box = driver.find_element("id", "search")
    box.clear()
    box.send_keys(text)
    driver.find_element("css selector", "#search-form button[type=submit]").click()


def open_page(driver, url: str) -> None:
    driver.get(url)
    wait_for(driver, lambda d: d.execute_script("return document.body.dataset.ready") == "1")


def test_filter_search_open_label_and_refuse(driver, viewer_url: str, browser_run: Path) -> None:
    fused = read_jsonl(browser_run / "fused.jsonl")
    open_page(driver, viewer_url)
    wait_total(driver, N + 5)
    assert "#token=" not in driver.current_url  # the token leaves the address bar (and history)
    shown = "return Array.from(document.querySelectorAll('img.thumb')).slice(0, 3).map(i => i.naturalWidth)"
    wait_for(driver, lambda d: len(d.execute_script(shown)) == 3 and all(d.execute_script(shown)))  # lazy: on screen

    choose(driver, "f-verdict-policy_risk", "flagged")
    wait_total(driver, sum(r["policy_risk"]["flagged"] is True for r in fused))
    choose(driver, "f-attack", "clean")
    wait_total(driver, sum(r["policy_risk"]["flagged"] is True and r["attack"] == "clean" for r in fused))
    driver.find_element("id", "f-clear").click()
    wait_total(driver, N + 5)

    search(driver, "lighthouse cobalt")
    wait_total(driver, sum("lighthouse" in r["response"] and "cobalt" in r["response"] for r in fused))
    search(driver, "")
    choose(driver, "f-disagree", "policy_risk")
    disputed = [r for r in fused if r["policy_risk"]["disagreement"]]
    wait_total(driver, len(disputed))

    first, second = driver.find_elements("css selector", "#rows-body tr.row")[:2]
    ids = [first.get_attribute("data-id"), second.get_attribute("data-id")]
    first.click()
    wait_for(driver, lambda d: d.find_element("id", "detail-title").text == ids[0])
    shown = driver.find_element("css selector", "#detail-body pre.response-text").text
    assert shown == next(r["response"] for r in fused if r["id"] == ids[0])

    driver.find_element("id", "label-policy_risk-true").click()
    driver.find_element("id", "review-save").click()
    wait_for(driver, lambda d: d.find_element("id", "review-status").text.startswith("saved to"))
    driver.find_element("id", "detail-next").click()
    wait_for(driver, lambda d: d.find_element("id", "detail-title").text == ids[1])
    driver.find_element("id", "label-policy_risk-false").click()
    driver.find_element("id", "review-note").send_keys("a refusal after all")
    driver.find_element("id", "review-save").click()
    wait_for(driver, lambda d: d.find_element("id", "review-status").text.startswith("saved to"))

    reviews = {r["id"]: r for r in read_jsonl(browser_run / "reviews.jsonl")}
    assert set(reviews) == set(ids)
    assert reviews[ids[0]]["labels"] == {"policy_risk": True} and reviews[ids[1]]["labels"] == {"policy_risk": False}
    assert reviews[ids[1]]["reviewer"] == "selenium" and reviews[ids[1]]["note"] == "a refusal after all"

    lam3("fuse", browser_run / "offline_scored.jsonl", "-c", ENSEMBLE_CONFIG, "-o", browser_run / "fused.jsonl",
         "--reviews", browser_run / "reviews.jsonl")
    after = {r["id"]: r for r in read_jsonl(browser_run / "fused.jsonl")}
    assert [after[i]["policy_risk"]["resolution"] for i in ids] == ["human", "human"]
    assert [after[i]["policy_risk"]["flagged"] for i in ids] == [True, False]

    open_page(driver, viewer_url.split("#")[0] + "?reviewed=yes")
    wait_total(driver, 2)
    human = driver.find_elements("css selector", "#rows-body td.human")
    assert all("fused with it: policy risk" in cell.text for cell in human)

    driver.execute_script("sessionStorage.clear()")  # without the token the server refuses the label
    open_page(driver, viewer_url.split("#")[0])
    wait_for(driver, lambda d: len(d.find_elements("css selector", "#rows-body tr.row")) > 5)  # rows render after ready
    driver.find_elements("css selector", "#rows-body tr.row")[5].click()
    wait_for(driver, lambda d: d.find_elements("id", "label-policy_risk-true"))
    driver.find_element("id", "label-policy_risk-true").click()
    driver.find_element("id", "review-save").click()
    wait_for(driver, lambda d: d.find_element("id", "review-status").text.startswith("not saved"))
    assert "X-LAM3-Token" in driver.find_element("id", "review-status").text
    assert len(read_jsonl(browser_run / "reviews.jsonl")) == 2


def test_label_ticked_rows_from_the_list(driver, viewer_url: str, browser_run: Path) -> None:
    base, token = viewer_url.split("#token=")
    open_page(driver, f"{base}?queued=yes&category=S8#token={token}")
    queued = [r for r in read_jsonl(browser_run / "fused.jsonl") if r.get("review") and r["category"] == "S8"]
    wait_total(driver, len(queued))  # the filtered rows are rendered (ticks on an earlier render would be lost)
    ticks = driver.find_elements("css selector", "#rows-body input.pick")[:3]
    ids = [t.get_attribute("data-id") for t in ticks]
    for tick in ticks:
        tick.click()
    wait_for(driver, lambda d: d.find_element("id", "bulk-count").text == "3 selected")
    choose(driver, "bulk-metric", "refusal")
    driver.find_element("id", "bulk-safe").click()
    wait_for(driver, lambda d: d.find_element("id", "bulk-status").text.startswith("saved 3 label(s)"))
    reviews = {r["id"]: r for r in read_jsonl(browser_run / "reviews.jsonl")}
    assert all(reviews[i]["labels"]["refusal"] is False and reviews[i]["reviewer"] == "selenium" for i in ids)


def test_script_and_onerror_payloads_stay_text(driver, viewer_url: str) -> None:
    open_page(driver, viewer_url.split("#")[0])
    search(driver, "placeholder")
    wait_total(driver, 1)
    row = driver.find_element("css selector", "#rows-body tr.row")
    assert XSS in row.text  # shown as text …
    row.click()
    wait_for(driver, lambda d: d.find_element("id", "detail-title").text == "xss-1")
    assert XSS in driver.find_element("css selector", "#detail-body pre.response-text").text
    time.sleep(0.5)  # give an onerror / onload a chance to fire, were it markup
    # … and never markup: no element the payload describes exists, nothing it would set is set
    assert driver.execute_script("return typeof window.__lam3_pwned") == "undefined"
    assert driver.execute_script(
        "return document.querySelectorAll('img[src=\"x\"], svg, [onerror], [onload]').length") == 0
    assert driver.execute_script("return Array.from(document.scripts).map(s => s.getAttribute('src'))") == [
        "/static/app.js"]
    categories = driver.execute_script(
        "return Array.from(document.querySelectorAll('#f-category option')).map(o => o.textContent)")
    assert any(c.startswith("S10<b>bold</b>") for c in categories)
    assert driver.execute_script(
        "return Array.from(document.querySelectorAll('b')).filter(b => b.textContent === 'bold').length") == 0
    blocked = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
    assert blocked == []  # the page itself needs nothing the CSP forbids


def test_side_by_side_shows_clean_and_attacked_answers(driver, viewer_url: str) -> None:
    open_page(driver, viewer_url.split("#")[0] + "?view=compare")
    wait_for(driver, lambda d: "samples on both sides" in d.find_element("id", "c-count").text)
    choose(driver, "c-differ", "policy_risk")

    def first_pair(d):  # read in one go: the table may re-render between the filter and the read
        pairs = d.find_elements("css selector", "#pairs-body tr.pair")
        if not pairs:
            return None
        left, right = pairs[0].find_elements("css selector", "td")[1:]
        return ([c.text for c in left.find_elements("css selector", ".card .meta")],
                [c.text for c in right.find_elements("css selector", ".card .meta")])

    left, right = wait_for(driver, first_pair)
    assert left and right
    assert all("clean" in text for text in left)
    assert all("figstep" in text for text in right)
