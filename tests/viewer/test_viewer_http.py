"""The viewer over real HTTP (httpx → uvicorn on an ephemeral port): security headers, images, writes, errors."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from conftest import TOKEN
from PIL import Image

from lam3.report.viewer.server import CSP, TOKEN_HEADER


@pytest.fixture(scope="module")
def client(served: str):
    with httpx.Client(base_url=served, timeout=30) as c:
        yield c


def hostile(client: httpx.Client, rid: str) -> dict:
    sample = {"escape-dotdot": "hostile-img", "escape-absolute": "hostile-img", "escape-symlink": "hostile-img",
              "xss-1": "hostile-xss"}[rid]
    rows = client.get("/api/runs/run1k/rows", params={"sample": sample}).json()["rows"]
    return next(r for r in rows if r["id"] == rid)


def test_every_response_carries_a_csp_without_inline_scripts(client: httpx.Client) -> None:
    for path in ("/", "/static/app.js", "/api/runs", "/api/runs/run1k/rows", "/api/runs/nope/rows", "/static/x"):
        r = client.get(path)
        assert r.headers["content-security-policy"] == CSP, path
        assert r.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
    page = client.get("/").text
    assert '<script src="/static/app.js" defer></script>' in page
    assert page.count("<script") == 1 and "http://" not in page and "https://" not in page
    script = client.get("/static/app.js").text
    assert not re.search(r"\.(inner|outer)HTML\s*[+]?=|insertAdjacentHTML|document\.write|\beval\(", script)


@pytest.mark.parametrize("rid, status, reason", [
    ("escape-dotdot", 403, "without '..'"),
    ("escape-absolute", 403, "relative to the run directory"),
    ("escape-symlink", 403, "outside the run directory (through a symbolic link)"),
])
def test_image_paths_cannot_leave_the_run(client: httpx.Client, rid: str, status: int, reason: str) -> None:
    row = hostile(client, rid)
    r = client.get(f"/api/runs/run1k/images/{row['n']}/0")
    assert r.status_code == status and reason in r.json()["error"]


def test_images_the_records_name_are_served_reencoded(client: httpx.Client) -> None:
    row = hostile(client, "xss-1")
    r = client.get(f"/api/runs/run1k/images/{row['n']}/0", params={"size": "thumb"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(r.content)) as im:
        assert max(im.size) <= 160
    assert client.get(f"/api/runs/run1k/images/{row['n']}/1").status_code == 404  # the record names one image
    for path in ("/static/../fused.jsonl", "/static/%2e%2e%2ffused.jsonl", "/api/runs/run1k/images/1/0/../../x",
                 "/api/runs/..%2F..%2Fetc/rows"):
        assert client.get(path).status_code == 404, path


def test_writes_need_the_token(client: httpx.Client) -> None:
    row = hostile(client, "xss-1")
    body = {"ids": [row["id"]], "labels": {"policy_risk": True}, "reviewer": "tester"}
    r = client.post("/api/runs/run1k/reviews", json=body)
    assert r.status_code == 401 and TOKEN_HEADER in r.json()["error"]
    r = client.post("/api/runs/run1k/reviews", json=body, headers={TOKEN_HEADER: TOKEN[:-1] + "x"})
    assert r.status_code == 403 and r.json()["error"].startswith("wrong X-LAM3-Token")
    r = client.post("/api/runs/run1k/reviews", json=body, headers={TOKEN_HEADER: TOKEN, "Origin": "http://evil.test"})
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]
    r = client.post("/api/runs/run1k/reviews", content="ids=x", headers={TOKEN_HEADER: TOKEN,
                                                                       "Content-Type": "text/plain"})
    assert r.status_code == 415
    assert client.get("/api/runs/run1k/rows", params={"reviewed": "yes"}).json()["total"] == 0


@pytest.mark.parametrize("body, status, message", [
    ({"ids": ["no-such-id"], "labels": {"policy_risk": True}, "reviewer": "t"}, 404, "'no-such-id' is not a"),
    ({"ids": ["xss-1"], "labels": {"jailbreak_success": True}, "reviewer": "t"}, 400, "labels.jailbreak_success"),
    ({"ids": ["xss-1"], "labels": {"policy_risk": "yes"}, "reviewer": "t"}, 400, "labels.policy_risk"),
    ({"ids": ["xss-1"], "labels": {"policy_risk": True}, "reviewer": "  "}, 400, "reviewer"),
    ({"ids": ["xss-1"], "labels": {}, "reviewer": "t"}, 400, "labels"),
    ({"ids": ["xss-1"], "labels": {"policy_risk": True}, "reviewer": "t", "extra": 1}, 400, "extra"),
])
def test_bad_labels_are_refused_with_the_field_named(client: httpx.Client, body: dict, status: int,
                                                     message: str) -> None:
    r = client.post("/api/runs/run1k/reviews", json=body, headers={TOKEN_HEADER: TOKEN})
    assert r.status_code == status and message in r.json()["error"]


def test_other_host_headers_are_refused(client: httpx.Client) -> None:
    """A page on another site cannot reach the viewer through DNS rebinding."""
    assert client.get("/api/runs", headers={"Host": "attacker.example"}).status_code == 400
    assert client.get("/api/runs", headers={"Host": "localhost"}).status_code == 200


def test_bad_queries_get_400_naming_the_parameter(client: httpx.Client) -> None:
    for params, message in (({"verdict": "policy_risk:maybe"}, "verdict"), ({"size": "5000"}, "size"),
                            ({"unknown": "1"}, "unknown"), ({"disagree": "everything"}, "disagree")):
        r = client.get("/api/runs/run1k/rows", params=params)
        assert r.status_code == 400 and r.json()["error"].startswith(message)
    assert client.get("/api/runs/run1k/records/999999").status_code == 404


def test_damaged_run_serves_error_rows_and_raw_lines(client: httpx.Client) -> None:
    page = client.get("/api/runs/damaged/rows", params={"size": 200})
    assert page.status_code == 200 and page.json()["total"] == 58
    info = next(r for r in client.get("/api/runs").json()["runs"] if r["key"] == "damaged")
    assert info["errors"] == 8 and info["records"] == 58
    deep = client.get("/api/runs/damaged/records/57").json()
    assert deep["raw_bytes"] > 200_000 and len(deep["raw"]) == 20_000
    raw = client.get("/api/runs/damaged/records/57/raw")
    assert raw.headers["content-disposition"].startswith("attachment") and len(raw.content) == deep["raw_bytes"]
    pairs = client.get("/api/compare", params={"left": "run1k", "right": "damaged", "size": 5}).json()
    assert pairs["total"] == 20 and all(p["left"] and p["right"] for p in pairs["samples"])
