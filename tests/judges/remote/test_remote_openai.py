"""The OpenAI Moderation judge: text + image request, both metrics' label maps, flags, errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image
from remote_helpers import FAST, OPENAI_KEY, inputs

from lam3.errors import ConfigError
from lam3.judges import registry
from lam3.judges.openai_moderation import OpenAIModerationJudge
from lam3.taxonomy import OPENAI_TO_POLICY, OPENAI_TO_SOCIAL
from lam3.testing.fake_apis import openai_scores


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "imgs" / "red.png"
    path.parent.mkdir()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path)
    return path


def test_text_and_image_go_in_one_request(keys, fake_server, build, image, tmp_path) -> None:
    server = fake_server()
    judge = build("openai_moderation", base_url=server.url + "/v1", image_root=str(tmp_path), **FAST)
    judged = judge.score(inputs(["kill the moron", "a calm picture"], images=[[], ["imgs/red.png"]]))
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    assert [h.images for h in server.hits if h.images] == [(digest,)]  # the file's exact bytes arrived
    text_only, with_image = judged
    assert text_only.scores == openai_scores("kill the moron")
    assert with_image.scores == openai_scores("a calm picture", [digest])
    assert with_image.details["images_sent"] == 1
    assert with_image.details["applied_input_types"]["violence"] == ["text", "image"]
    # flag_by: api (default) → the API's own booleans are the verdict, per metric they map into
    assert set(text_only.details["api_categories"]) == {"harassment", "harassment/threatening", "violence"}
    assert text_only.verdict == {"social_toxicity": True, "policy_risk": True}  # violence → S1
    assert with_image.verdict == {"social_toxicity": False, "policy_risk": False}
    assert text_only.details["model"] == "omni-moderation-2024-09-26"


def test_labels_feed_both_metrics() -> None:
    judge = OpenAIModerationJudge()
    assert judge.metric == "social_toxicity"
    assert set(judge.label_maps) == {"social_toxicity", "policy_risk"}
    assert set(OPENAI_TO_SOCIAL) | set(OPENAI_TO_POLICY) <= set(judge.labels)
    assert len(judge.labels) == 13


def test_ensemble_flagging_and_per_record_errors(keys, fake_server, build, tmp_path) -> None:
    server = fake_server()
    judge = build("openai_moderation", base_url=server.url + "/v1", flag_by="ensemble",
                  image_root=str(tmp_path), **FAST)
    (tmp_path / "notes.txt").write_text("not an image")
    judged = judge.score(inputs(["hurt", "", "fine", "fine too"], images=[[], [], ["missing.png"], ["notes.txt"]]))
    assert judged[0].verdict is None and judged[0].scores == openai_scores("hurt")
    assert judged[1].error.startswith("empty_input")
    assert judged[2].error.startswith("image_unreadable")
    assert judged[3].error.startswith("image_unsupported")
    assert len(server.hits) == 1  # only the judgeable record was sent


def test_wrong_key_is_redacted_even_when_the_server_echoes_it(keys, fake_server, build) -> None:
    server = fake_server(openai_key="sk-the-right-one")
    judge = build("openai_moderation", base_url=server.url + "/v1", **FAST)
    judged = judge.score(inputs(["a", "b"]))
    assert all("invalid_api_key" in j.error for j in judged)
    assert all(OPENAI_KEY not in j.model_dump_json() for j in judged)


def test_unknown_model_stops_the_run_with_a_clear_error(keys, fake_server, build) -> None:
    server = fake_server()
    judged = build("openai_moderation", base_url=server.url + "/v1", model="omni-moderation-nope",
                   **FAST).score(inputs(["a", "b", "c"]))
    assert all("model_not_found" in j.error for j in judged)


@pytest.mark.parametrize("options, message", [
    ({"threshold": 0.3}, "thresholds live in the ensemble config"),
    ({"model": "text-moderation-latest"}, "text only"),
    ({"send_images": False, "image_root": "."}, "send_images"),
    ({"image_root": "no/such/folder"}, "image_root: .*folder not found: 'no/such/folder'"),
    ({"base_url": "api.openai.com"}, "http"),
    ({"max_images": 0}, "greater than or equal to 1"),
])
def test_contradictory_settings_are_config_errors(keys, options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        registry.build({"judge": "openai_moderation", **options})


def test_missing_key_is_a_config_error(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        registry.build({"judge": "openai_moderation"})


def test_text_moderation_models_leave_illicit_not_scored(keys, fake_server, build) -> None:
    server = fake_server()  # the text-moderation models answer null for illicit and illicit/violent
    judge = build("openai_moderation", base_url=server.url + "/v1", model="text-moderation-latest",
                  send_images=False, **FAST)
    [j] = judge.score(inputs(["how to hack and steal"]))
    assert j.error is None and j.details["not_scored"] == ["illicit", "illicit/violent"]
    assert set(j.scores) == set(judge.labels)  # the legacy categories, all scored
    assert j.verdict == {"social_toxicity": False, "policy_risk": False}  # a null flag is no flag
    assert len(server.hits) == 1


def test_a_reply_with_no_category_scored_is_an_error_not_an_empty_judgement(keys, fake_server, build) -> None:
    from lam3.testing.fake_apis import OPENAI_CATEGORIES

    server = fake_server(null_categories=OPENAI_CATEGORIES)
    [j] = build("openai_moderation", base_url=server.url + "/v1", **FAST).score(inputs(["hello"]))
    assert j.error == "malformed reply (not retried): results[0].category_scores: no category was scored"
    assert j.scores == {} and len(server.hits) == 1
