import pytest
from pydantic import ValidationError

from lam3.records import SCHEMA_VERSION, FusedResult, GenerationSettings, Judgement, Response, Sample, upgrade


def test_sample_roundtrip_keeps_schema_version_and_extra_fields():
    s = Sample(id="a", prompt="p", images=["img/a.png"], category="S1", extra_field=3)
    back = Sample.model_validate_json(s.model_dump_json())
    assert back.schema_version == SCHEMA_VERSION
    assert back.model_dump()["extra_field"] == 3


def test_judgement_scores_must_be_probabilities():
    with pytest.raises(ValidationError, match=r"scores\.toxicity\n.*less than or equal to 1"):
        Judgement(judge="x", version="1", metric="social_toxicity", scores={"toxicity": 1.5})
    with pytest.raises(ValidationError, match=r"scores\.toxicity\n.*greater than or equal to 0"):
        Judgement(judge="x", version="1", metric="social_toxicity", scores={"toxicity": -0.1})
    with pytest.raises(ValidationError, match=r"scores\.toxicity\n.*finite number"):
        Judgement(judge="x", version="1", metric="social_toxicity", scores={"toxicity": float("nan")})


def test_judgement_rejects_unknown_family_and_fields():
    with pytest.raises(ValidationError):
        Judgement(judge="x", version="1", metric="vibes")
    with pytest.raises(ValidationError):
        Judgement(judge="x", version="1", metric="refusal", surprise=1)


def test_failed_judgement_carries_error_not_zero():
    j = Judgement.failed("p", "1", "policy_risk", "boom")
    assert j.error == "boom" and j.scores == {} and j.verdict is None


def test_response_requires_model_and_records_settings():
    with pytest.raises(ValidationError):
        Response(id="r", sample_id="s", prompt="p")
    r = Response(id="r", sample_id="s", prompt="p", model_id="m", generation={"do_sample": True, "seed": 3})
    assert r.generation.do_sample is True and r.generation.seed == 3 and r.attack == "clean"
    greedy = GenerationSettings(do_sample=False, temperature=0.2, top_p=0.9, top_k=5, seed=1)
    assert (greedy.temperature, greedy.top_p, greedy.top_k, greedy.seed) == (None, None, None, 1)  # do not apply
    with pytest.raises(ValidationError, match="global_seed"):
        GenerationSettings(global_seed=1)  # one name for the seed


def test_wave1_response_generation_is_upgraded():
    wave1 = {"schema_version": 1, "id": "r", "sample_id": "s", "prompt": "p", "model_id": "m",
             "generation": {"do_sample": True, "temperature": 0.2, "global_seed": 42,
                            "sampler": "lam3.per_sample_seeded"}}
    r = Response.model_validate(upgrade(wave1))
    assert r.generation.seed == 42 and r.generation.temperature == 0.2
    assert Response.model_validate(upgrade({**wave1, "generation": {}})).generation is None  # nothing recorded


def test_fused_result_defaults_are_unknown_not_safe():
    f = FusedResult(id="x")
    assert f.policy_risk.score is None and f.policy_risk.flagged is None
