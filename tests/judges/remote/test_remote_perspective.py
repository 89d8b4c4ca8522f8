"""The Perspective judge: request contract, per-record errors, truncation, sunset and fallback."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from remote_helpers import FAST, inputs

from lam3.errors import ConfigError
from lam3.judges import registry
from lam3.judges.perspective import PerspectiveJudge
from lam3.taxonomy import PERSPECTIVE_TO_SOCIAL
from lam3.testing.fake_apis import perspective_scores

YESTERDAY = (date.today() - timedelta(days=1)).isoformat()


def test_configured_attributes_are_requested_and_scored(keys, fake_server, build) -> None:
    server = fake_server()
    judge = build("perspective", endpoint=server.url, attributes=["TOXICITY", "INSULT", "FLIRTATION"],
                  languages=["en"], **FAST)
    assert judge.labels == ["TOXICITY", "INSULT", "FLIRTATION"]
    assert set(judge.labels) <= set(PERSPECTIVE_TO_SOCIAL)
    texts = ["you stupid idiot", "have a lovely day", "hey sexy"]
    judged = judge.score(inputs(texts))
    for text, j in zip(texts, judged):
        assert j.error is None and j.metric == "social_toxicity" and j.judge == "perspective"
        assert j.scores == perspective_scores(text, judge.labels)
        assert j.verdict is None
        assert j.details["languages"] == ["en"]
    high = [{k for k, v in j.scores.items() if v >= 0.6} for j in judged]
    assert high == [{"TOXICITY", "INSULT"}, set(), {"FLIRTATION"}]


def test_unscorable_texts_become_per_record_errors(keys, fake_server, build) -> None:
    server = fake_server()
    # the client-side limit is lifted so the server's COMMENT_TOO_LONG is exercised too
    judge = build("perspective", endpoint=server.url, attributes=["TOXICITY", "FLIRTATION"],
                  max_comment_bytes=100_000, **FAST)
    texts = ["fine text", "x" * 30_000, "   ", "こんにちは", "another fine text"]
    judged = judge.score(inputs(texts))
    assert [j.error is None for j in judged] == [True, False, False, False, True]
    assert judged[1].error.startswith("HTTP 400 COMMENT_TOO_LONG")
    assert judged[2].error.startswith("COMMENT_EMPTY") and "not sent" in judged[2].error
    assert judged[3].error.startswith("HTTP 400 LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE")
    assert "   " not in [h.text for h in server.hits]  # the empty one never cost a request


def test_too_long_texts_error_or_truncate_without_spending_quota(keys, fake_server, build) -> None:
    server = fake_server()
    long_text = "héllo " * 5000  # 35 000 bytes; 'é' takes two
    refused = build("perspective", endpoint=server.url, **FAST).score(inputs([long_text]))[0]
    assert refused.error.startswith("COMMENT_TOO_LONG: 35000 bytes > max_comment_bytes=20480")
    assert server.hits == []
    kept = build("perspective", endpoint=server.url, too_long="truncate", **FAST).score(inputs([long_text]))[0]
    assert kept.error is None and kept.details["truncated_from_bytes"] == 35_000
    sent = server.hits[-1].text
    assert len(sent.encode()) == kept.details["truncated_to_bytes"] <= 20_480 and long_text.startswith(sent)


def test_missing_key_is_a_config_error_naming_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="PERSPECTIVE_API_KEY"):
        registry.build({"judge": "perspective"})
    assert PerspectiveJudge().labels  # `lam3 judges` can still list it


def test_after_sunset_the_fallback_scores_and_says_so(monkeypatch, fake_server, build) -> None:
    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)  # no key needed once the API is gone
    server = fake_server()
    with pytest.raises(ConfigError, match="shut down"):
        registry.build({"judge": "perspective", "endpoint": server.url, "sunset_date": YESTERDAY})
    judge = build("perspective", endpoint=server.url, sunset_date=YESTERDAY,
                  fallback={"judge": "profanity_check", "normalize_obfuscation": False})
    judged = judge.score(inputs(["what a load of crap, damn it", "thank you"]))
    assert server.hits == []
    assert all(j.judge == "profanity_check" and j.error is None for j in judged)
    assert judged[0].details["fallback_for"] == "perspective"
    assert "sunset_date" in judged[0].details["fallback_reason"]
    assert judged[0].scores["profanity"] > judged[1].scores["profanity"]


def test_a_gone_endpoint_switches_to_the_fallback_mid_run(keys, fake_server, build) -> None:
    server = fake_server()
    judge = build("perspective", endpoint=server.url, fallback={"judge": "profanity_check"},
                  **{**FAST, "max_concurrency": 1})
    first = judge.score(inputs(["before the shutdown"]))
    assert first[0].judge == "perspective" and first[0].error is None
    server.perspective_gone = True
    during = judge.score(inputs(["a", "b", "c"]))
    assert [j.judge for j in during] == ["profanity_check"] * 3
    assert all("404" in j.details["fallback_reason"] for j in during)
    sent = len(server.hits)
    after = judge.score(inputs(["d"]))
    assert after[0].judge == "profanity_check" and len(server.hits) == sent  # no more requests
    # without a fallback the same thing is a per-record error, not a crash
    plain = build("perspective", endpoint=server.url, **FAST).score(inputs(["x", "y"]))
    assert all(j.error and j.error.startswith("HTTP 404") or "not sent" in j.error for j in plain)


@pytest.mark.parametrize("options, message", [
    ({"nope": 1}, "unknown key"),
    ({"fallback_on": ["gone"]}, "no fallback judge"),
    ({"fallback": {"judge": "keyword_risk"}}, "policy_risk, not social_toxicity"),
    ({"fallback": {"judge": "perspective"}}, "itself"),
    ({"fallback": {"judge": "profanity_check", "bogus": 1}}, "bogus: unknown key"),
    ({"fallback": {"judge": "no_such_judge"}}, "unknown judge"),
    ({"endpoint": "ftp://x"}, "http"),
    ({"endpoint": "https://x/?key=abc"}, "query string"),
    ({"attributes": ["toxicity"]}, "UPPER_CASE"),
    ({"attributes": ["TOXICITY", "TOXICITY"]}, "twice"),
    ({"too_long": "truncate", "max_comment_bytes": 50_000}, "max_comment_bytes"),
    ({"requests_per_second": 0}, "greater than 0"),
])
def test_contradictory_or_unknown_settings_are_config_errors(keys, options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        registry.build({"judge": "perspective", **options})


@pytest.mark.parametrize("name", ["toxicity_perspective.yaml", "toxicity_openai.yaml"])
def test_shipped_configs_load(keys, name) -> None:
    from pathlib import Path

    from lam3.pipeline.score import load_score_config

    path = Path(__file__).resolve().parents[3] / "configs" / name
    _, judges = load_score_config(path)
    for _, judge in judges:
        assert judge.remote and judge.labels
        judge.close()


def test_a_reply_that_breaks_the_contract_is_not_retried(keys, fake_server, build) -> None:
    from lam3.testing.fake_apis import Faults

    server = fake_server(faults=Faults(off_contract=1.0))
    judged = build("perspective", endpoint=server.url, attributes=["TOXICITY", "INSULT"], **FAST,
                   max_attempts=6).score(inputs(["a", "b"]))
    assert all(j.error == "malformed reply (not retried): attributeScores.TOXICITY.summaryScore.value: "
                          "Input should be a valid number (got 'high')" for j in judged)
    assert len(server.hits) == 2
