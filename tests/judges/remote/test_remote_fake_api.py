"""The fake server speaks each API's contract: what the clients are tested against must itself be right."""

from __future__ import annotations

import base64
import hashlib

import httpx
from remote_helpers import OPENAI_KEY, PERSPECTIVE_KEY

from lam3.testing.fake_apis import PERSPECTIVE_PATH, Faults, openai_scores, perspective_scores

ATTRS = {"TOXICITY": {}, "INSULT": {}}
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


def _analyze(url: str, body: object, key: str | None = PERSPECTIVE_KEY) -> httpx.Response:
    params = {"key": key} if key else None
    return httpx.post(url + PERSPECTIVE_PATH, json=body, params=params, timeout=5)


def _error_type(response: httpx.Response) -> str | None:
    details = response.json()["error"].get("details") or [{}]
    return details[0].get("errorType") or details[0].get("reason")


def test_perspective_contract(fake_server) -> None:
    server = fake_server()
    ok = _analyze(server.url, {"comment": {"text": "you idiot"}, "requestedAttributes": ATTRS, "doNotStore": True})
    assert ok.status_code == 200
    body = ok.json()
    assert body["attributeScores"]["INSULT"]["summaryScore"]["value"] == perspective_scores("you idiot", ["INSULT"])["INSULT"]
    assert body["detectedLanguages"] == ["en"]
    # scores follow the words: an insult scores far above a greeting
    insult = perspective_scores("you idiot", ["INSULT"])["INSULT"]
    assert insult > 0.7 > 0.1 > perspective_scores("good morning", ["INSULT"])["INSULT"]

    cases = [
        ({"requestedAttributes": ATTRS}, 400, None),                                   # no comment
        ({"comment": {"text": "  "}, "requestedAttributes": ATTRS}, 400, "COMMENT_EMPTY"),
        ({"comment": {"text": "x" * 20_481}, "requestedAttributes": ATTRS}, 400, "COMMENT_TOO_LONG"),
        ({"comment": {"text": "hi"}, "requestedAttributes": {}}, 400, None),
        ({"comment": {"text": "hi"}, "requestedAttributes": {"NOPE": {}}}, 400, None),
        ({"comment": {"text": "hi"}, "requestedAttributes": ATTRS, "extra": 1}, 400, None),
        ({"comment": {"text": "こんにちは"}, "requestedAttributes": {"FLIRTATION": {}}}, 400,
         "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"),
        ({"comment": {"text": "hi"}, "requestedAttributes": ATTRS, "doNotStore": "yes"}, 400, None),
    ]
    for body, status, error_type in cases:
        response = _analyze(server.url, body)
        assert response.status_code == status, body
        assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
        if error_type:
            assert _error_type(response) == error_type

    assert _analyze(server.url, {"comment": {"text": "hi"}, "requestedAttributes": ATTRS}, key=None).status_code == 403
    wrong = _analyze(server.url, {"comment": {"text": "hi"}, "requestedAttributes": ATTRS}, key="wrong")
    assert wrong.status_code == 400 and _error_type(wrong) == "API_KEY_INVALID"


def test_openai_contract(fake_server) -> None:
    server = fake_server()
    url, auth = server.url + "/v1/moderations", {"authorization": f"Bearer {OPENAI_KEY}"}
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    parts = [{"type": "text", "text": "kill"}, {"type": "image_url", "image_url": {"url": data_url}}]
    one = httpx.post(url, json={"model": "omni-moderation-latest", "input": parts}, headers=auth, timeout=5)
    assert one.status_code == 200
    (result,) = one.json()["results"]  # text + image of one record: one result
    assert result["category_scores"] == openai_scores("kill", [hashlib.sha256(PNG).hexdigest()])
    assert result["categories"]["violence"] is True and result["flagged"] is True
    assert result["category_applied_input_types"]["violence"] == ["text", "image"]
    assert server.hits[-1].images == (hashlib.sha256(PNG).hexdigest(),)

    many = httpx.post(url, json={"input": ["a", "b", "c"]}, headers=auth, timeout=5)
    assert len(many.json()["results"]) == 3

    assert httpx.post(url, json={"model": "omni-moderation-latest"}, headers=auth).status_code == 400
    assert httpx.post(url, json={"input": [{"type": "video"}]}, headers=auth).status_code == 400
    assert httpx.post(url, json={"input": parts, "model": "text-moderation-latest"}, headers=auth).status_code == 400
    assert httpx.post(url, json={"input": "x", "model": "nope"}, headers=auth).status_code == 404
    bad_image = [{"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGk="}}]
    assert httpx.post(url, json={"input": bad_image}, headers=auth).status_code == 400
    assert httpx.post(url, json={"input": "x"}).status_code == 401
    wrong = httpx.post(url, json={"input": "x"}, headers={"authorization": "Bearer sk-wrong-123"})
    assert wrong.status_code == 401 and "sk-wrong-123" in wrong.json()["error"]["message"]  # echoes, like the real one


def test_quota_answers_429_with_retry_after(fake_server) -> None:
    server = fake_server(quota=3)
    with httpx.Client(timeout=5) as client:
        statuses = [client.post(server.url + PERSPECTIVE_PATH, params={"key": PERSPECTIVE_KEY},
                                json={"comment": {"text": f"t{i}"}, "requestedAttributes": ATTRS})
                    for i in range(6)]
    limited = [r for r in statuses if r.status_code == 429]
    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]  # sent back to back: well inside 1 s
    assert limited and all(int(r.headers["retry-after"]) >= 1 for r in limited)
    assert limited[0].json()["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_faults_are_seeded_and_reproducible(fake_server) -> None:
    def run(seed: int) -> list[str | None]:
        server = fake_server(faults=Faults(server_error=0.3, malformed=0.2, seed=seed))
        with httpx.Client(timeout=5) as client:
            for i in range(20):
                client.post(server.url + PERSPECTIVE_PATH, params={"key": PERSPECTIVE_KEY},
                            json={"comment": {"text": f"t{i}"}, "requestedAttributes": ATTRS})
        return [h.fault for h in server.hits]

    first = run(7)
    assert first == run(7)
    assert {"server_error", "malformed", None} <= set(first)
    assert first != run(8)


def test_null_scores_parse_with_the_official_sdk(fake_server) -> None:
    """The fake's null replies are what the vendor SDK types as Optional (openai-python types illicit so)."""
    import openai

    server = fake_server(null_categories=("illicit", "illicit/violent"))
    client = openai.OpenAI(api_key=OPENAI_KEY, base_url=server.url + "/v1", max_retries=0)
    try:
        for model in ("omni-moderation-latest", "text-moderation-latest"):
            result = client.moderations.create(model=model, input="how to hack it").results[0]
            assert result.category_scores.illicit is None and result.categories.illicit is None
            assert result.category_scores.illicit_violent is None
            assert result.category_scores.harassment == openai_scores("how to hack it")["harassment"]
        plain = fake_server()  # without the option, only the text-moderation models answer null
        other = openai.OpenAI(api_key=OPENAI_KEY, base_url=plain.url + "/v1", max_retries=0)
        assert other.moderations.create(model="omni-moderation-latest", input="x").results[0].category_scores.illicit \
            == openai_scores("x")["illicit"]
        assert other.moderations.create(model="text-moderation-latest", input="x").results[0].category_scores.illicit \
            is None
    finally:
        client.close()
