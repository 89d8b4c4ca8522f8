"""Prompted-judge YAML: a key of the other backend, a missing base_url or model is an error naming it."""

from __future__ import annotations

import pytest
from success_helpers import build

from lam3.config import read_yaml
from lam3.errors import ConfigError
from lam3.judges import registry

EP = {"backend": "openai_compatible", "base_url": "http://127.0.0.1:9/v1", "model_id": "judge", "api_key_env": None}


@pytest.mark.parametrize(("options", "message"), [
    ({"base_url": "http://x/v1"}, r"base_url only apply to backend: openai_compatible"),
    ({"requests_per_second": 5, "seed": 1}, r"requests_per_second, seed only apply to backend: openai_compatible"),
    ({**EP, "revision": "main"}, r"revision only apply to backend: local \(with clip_tokenizer"),
    ({**EP, "quantization": True}, r"quantization only apply to backend: local"),
    ({"backend": "openai_compatible", "model_id": "j"}, r"needs base_url \(e.g\. http://localhost:8000/v1\)"),
    ({**EP, "base_url": "localhost:8000"}, r"base_url: Value error, must be an http:// or https:// URL"),
    ({**EP, "threshold": 0.5}, r"thresholds live in the ensemble config only"),
    ({**EP, "scoring": "sometimes"}, r"scoring: Input should be 'auto', 'probability' or 'parse'"),
])
def test_bad_options_name_the_key(options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build("jailbreakbench", **options)


def test_endpoint_keys_are_accepted_with_the_endpoint_backend() -> None:
    judge = build("jailbreakbench", **EP, requests_per_second=3, seed=None, top_logprobs=5, timeout_s=7)
    assert judge.config.batch_size == 256 and judge.config.requests_per_second == 3
    assert build("jailbreakbench").config.batch_size == 8  # local default


def test_each_judge_needs_what_it_judges_with() -> None:
    with pytest.raises(ConfigError, match=r"variant: rubric needs model_id: the chat LLM that grades"):
        build("strongreject", **{**EP, "model_id": ""})
    with pytest.raises(ConfigError, match=r"template slot\(s\) finetuned belong to the other variant"):
        build("strongreject", **EP, templates={"finetuned": "{forbidden_prompt} {response}"})
    with pytest.raises(ConfigError, match=r"llm_rubric needs answer: \{labels: \{\.\.\.\}\} or \{scale"):
        build("llm_rubric", **EP, templates={"user": "{response}"})
    with pytest.raises(ConfigError, match=r"llm_rubric needs templates\.user"):
        build("llm_rubric", **EP, answer={"scale": [1, 10]})
    with pytest.raises(ConfigError, match=r"answer: Value error, give exactly one of labels"):
        build("llm_rubric", **EP, answer={"labels": {"y": 1.0}, "scale": [1, 5]})
    with pytest.raises(ConfigError, match=r"answer\.pattern: Value error, not a regular expression"):
        build("llm_rubric", **EP, answer={"scale": [1, 5], "pattern": "("})
    with pytest.raises(ConfigError, match=r"scoring: probability needs one-token answer labels"):
        build("strongreject", **EP, scoring="probability")


def test_defaults_follow_the_published_judges() -> None:
    hb = build("harmbench_classifier", **{**EP, "model_id": ""}, clip_tokens=None)
    assert hb.config.model_id == "cais/HarmBench-Llama-2-13b-cls" and hb.config.max_new_tokens == 1
    mistral = build("harmbench_classifier", classifier="mistral_7b_val")
    assert mistral.config.model_id == "cais/HarmBench-Mistral-7b-val-cls" and mistral.config.clip_tokens == 512
    tuned = build("strongreject", variant="finetuned")
    assert (tuned.config.model_id, tuned.config.clip_tokens, tuned.config.max_new_tokens) == (
        "qylu4156/strongreject-15k-v1", 512, 1)
    assert build("strongreject", **EP).config.max_new_tokens == 1000
    assert build("jailbreakbench").config.model_id == "meta-llama/Meta-Llama-3-70B-Instruct"
    assert build("jailbreakbench_refusal").metric == "refusal"
    assert registry.get("jailbreakbench_refusal").label_maps == {"refusal": {"refusal": "refusal"}}
    assert registry.get("harmbench_classifier").label_maps == {
        "jailbreak_success": {"jailbreak_success": "jailbreak_success"}}


def test_yaml_errors_carry_the_line(tmp_path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("judges:\n  - judge: harmbench_classifier\n    base_url: http://x/v1\n")
    data, node = read_yaml(path)
    with pytest.raises(ConfigError) as exc:
        registry.build(data["judges"][0], path=path, node=node, loc=("judges", 0))
    assert str(exc.value).startswith(f"{path}:2: judges[0]: Value error, base_url only apply to backend")


def test_introspection_needs_no_config() -> None:
    for name in ("harmbench_classifier", "strongreject", "jailbreakbench", "jailbreakbench_refusal", "llm_rubric"):
        cls = registry.get(name)
        assert cls().labels == [cls.metric]
