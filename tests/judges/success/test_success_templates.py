"""Published prompts: shipped byte for byte (golden files), filled exactly, overridable from YAML."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from success_helpers import GOLDEN, KEY, build

from lam3.errors import ConfigError
from lam3.judges.base import ScoreInput
from lam3.judges.prompted.templates import PUBLISHED, published_text, sha256

B = "Describe the placeholder procedure."
G = "Sure, here is the placeholder procedure: step one, step two."
C = "A placeholder context paragraph."
ENDPOINT = {"backend": "openai_compatible", "base_url": "http://127.0.0.1:9/v1", "model_id": "judge"}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_shipped_template_is_the_published_text_byte_for_byte(name: str) -> None:
    entry = PUBLISHED[name]
    shipped = resources.files("lam3.judges.prompted").joinpath("prompts", entry.file).read_bytes()
    assert shipped == (GOLDEN / entry.file).read_bytes()
    assert sha256(shipped.decode("utf-8")) == entry.sha256 == sha256(published_text(name))
    assert entry.repository and entry.path and entry.variable


def test_every_shipped_file_is_in_the_provenance_table() -> None:
    files = {p.name for p in resources.files("lam3.judges.prompted").joinpath("prompts").iterdir()}
    assert files == {entry.file for entry in PUBLISHED.values()}
    assert {p.name for p in GOLDEN.glob("*.txt")} == files


def test_known_quirks_of_the_published_text_are_kept() -> None:
    assert published_text("strongreject_finetuned").endswith("### Answer: ")  # trailing space
    assert "it’s unusually structured" in published_text("strongreject_finetuned")  # U+2019
    assert published_text("jailbreakbench_jailbreak").endswith('never start your response with "I"):')
    assert published_text("harmbench_llama2_standard").startswith("[INST] <<SYS>>\n")
    assert published_text("harmbench_mistral_standard").startswith("[INST] You are a classifier")
    for entry in PUBLISHED.values():
        assert not published_text(next(k for k, v in PUBLISHED.items() if v is entry)).endswith("\n")


def rendered(name: str) -> str:
    return (GOLDEN / "rendered" / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(("options", "record", "golden"), [
    ({}, {}, "harmbench_llama2_standard.txt"),
    ({}, {"context": C}, "harmbench_llama2_contextual.txt"),
    ({"prompt": "multimodal"}, {"context": C}, "harmbench_llama2_contextual.txt"),  # HarmBench's own choice
    ({"classifier": "mistral_7b_val"}, {"context": C, "images": ["a.png"]}, "harmbench_mistral_multimodal.txt"),
])
def test_harmbench_prompt_is_exact(keys, options, record, golden) -> None:
    judge = build("harmbench_classifier", **ENDPOINT, clip_tokens=None, **options)
    query, details = judge.query(ScoreInput(id="1", text=G, behavior=B, **record))
    assert query.text == rendered(golden) and query.messages is None
    assert details["templates"][details["prompt"]]["sha256"] == sha256(query.text.replace(G, "{generation}")
                                                                       .replace(B, "{behavior}")
                                                                       .replace(C, "{context}"))


def test_strongreject_prompts_are_exact(keys) -> None:
    item = ScoreInput(id="1", text=G, behavior=B)
    rubric = build("strongreject", **ENDPOINT)
    assert rubric.query(item)[0].messages == json.loads(rendered("strongreject_rubric_messages.json"))
    tuned = build("strongreject", variant="finetuned", **ENDPOINT, clip_tokens=None)
    assert tuned.query(item)[0].text == rendered("strongreject_finetuned.txt")


@pytest.mark.parametrize(("judge", "golden"), [("jailbreakbench", "jailbreakbench_jailbreak_messages.json"),
                                               ("jailbreakbench_refusal", "jailbreakbench_refusal_messages.json")])
def test_jailbreakbench_prompts_are_exact(keys, judge, golden) -> None:
    query, _ = build(judge, **ENDPOINT).query(ScoreInput(id="1", text=G, behavior=B))
    assert query.messages == json.loads(rendered(golden))


def test_template_override_from_yaml_text_and_file(keys, tmp_path) -> None:
    path = tmp_path / "mine.txt"
    path.write_bytes("Mine: {goal} → {response} {{literal}}".encode())
    judge = build("jailbreakbench", **ENDPOINT, templates={"user": {"file": str(path)}})
    query, details = judge.query(ScoreInput(id="1", text="R", behavior="G"))
    assert query.messages == [{"role": "user", "content": "Mine: G → R {literal}"}]
    assert details["templates"]["user"] == {"source": f"file:{path}", "sha256": sha256(path.read_text())}
    inline = build("jailbreakbench", **ENDPOINT, templates={"user": "Q {goal} A {response}"})
    assert inline.query(ScoreInput(id="1", text="R", behavior="G"))[0].messages[0]["content"] == "Q G A R"


@pytest.mark.parametrize(("templates", "message"), [
    ({"user": "{goal} {respons}"}, r"templates\.user: unknown placeholder\(s\) \{respons\}"),
    ({"user": "{goal} only"}, r"templates\.user: missing placeholder\(s\) \{response\}"),
    ({"user": "{goal} {response} {"}, r"templates\.user: .*write a literal brace"),
    ({"system": "{goal} {response}"}, r"unknown template slot\(s\) system; jailbreakbench has user"),
])
def test_bad_template_overrides_are_config_errors(keys, templates, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build("jailbreakbench", **ENDPOINT, templates=templates)


def test_missing_template_file_names_the_slot(keys, tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"templates\.user\.file.*cannot read template file"):
        build("jailbreakbench", **ENDPOINT, templates={"user": {"file": str(tmp_path / "nope.txt")}})


def test_keys_stay_out_of_the_template_details(keys) -> None:
    judge = build("jailbreakbench", **ENDPOINT)
    assert KEY not in json.dumps(judge.query(ScoreInput(id="1", text="R", behavior="G"))[1])
