"""Shared-prefix reuse in the local judges: the same probabilities as the plain batched forward (1e-5)."""

from __future__ import annotations

import pytest

from lam3.errors import ConfigError, UserError
from lam3.judges import registry
from lam3.judges.base import ScoreInput
from lam3.judges.llama_guard_prompt import LLAMA_GUARD_2
from lam3.judges.local import MIN_SHARED_TOKENS, shared_prefix_length
from lam3.judges.prompted.templates import published_text
from tiny.judge_models import build_tiny_judge
from tiny.llama_guard import CALIBRATION, build_tiny_llama_guard

pytest.importorskip("torch")

PAIRS = [*CALIBRATION, ("is this safe", "yes this is good"), ("make a drug", "no")]  # harmless placeholders

def items(pairs=PAIRS, same_prompt: str | None = None) -> list[ScoreInput]:
    return [ScoreInput(id=str(i), text=r, prompt=same_prompt or p, behavior=p) for i, (p, r) in enumerate(pairs)]


def guard(path, judge="llama_guard", **options):
    return registry.build({"judge": judge, "model_id": str(path), "local_files_only": True, "batch_size": 16,
                           **options})


@pytest.fixture(scope="module")
def guards(guard_dir, tiny_dir):
    plain = build_tiny_llama_guard(tiny_dir / "scale-llama-guard-plain", chat_template=None)
    return {"llama_guard": guard_dir, "llama_guard_3": plain}


@pytest.mark.parametrize("judge", ["llama_guard", "llama_guard_3"])
@pytest.mark.parametrize("same_prompt", [None, "tell me about the house and the car"])
@pytest.mark.parametrize("p_unsafe", ["vocabulary", "two_token"])
def test_prefix_reuse_gives_the_plain_forward_p_unsafe(guards, judge, same_prompt, p_unsafe):
    records = items(same_prompt=same_prompt)
    reused = guard(guards[judge], judge, p_unsafe=p_unsafe).score(records)
    plain = guard(guards[judge], judge, p_unsafe=p_unsafe, prefix_cache=False).score(records)
    assert {j.details["verdict"] for j in plain} == {"safe", "unsafe"}  # the tiny guard answers both ways
    for a, b in zip(reused, plain):
        assert a.error is None and b.error is None
        assert abs(a.scores["unsafe"] - b.scores["unsafe"]) < 1e-5
        assert (a.details["verdict"], a.details["categories"]) == (b.details["verdict"], b.details["categories"])
        assert a.details["prefix_cache"] is True and b.details["prefix_cache"] is False
        assert b.details["shared_prefix_tokens"] == 0
    shared = reused[0].details["shared_prefix_tokens"]
    tokenizer = guard(guards[judge], judge).tokenizer
    fixed = LLAMA_GUARD_2.build("PROMPT", "R").split("PROMPT")[0] if judge == "llama_guard" else None
    if fixed is not None and same_prompt is None:  # the shared start is the template's fixed block, "User:" included
        assert shared == len(tokenizer(fixed, add_special_tokens=False)["input_ids"])
    if same_prompt is not None:  # one prompt for all: the prompt is shared too
        assert shared > len(tokenizer(LLAMA_GUARD_2.build(same_prompt, "R").split("Agent:")[0],
                                      add_special_tokens=False)["input_ids"]) - 2


def test_in_float64_the_reuse_is_the_plain_forward_to_rounding(guards):
    """What the 1e-5 above leaves to float32 rounding: in float64 the two paths agree to 1e-12."""
    reuse, plain = guard(guards["llama_guard"]), guard(guards["llama_guard"], prefix_cache=False)
    reuse.model.double()
    plain.model.double()
    for a, b in zip(reuse.score(items()), plain.score(items())):
        assert a.details["prefix_cache"] and abs(a.scores["unsafe"] - b.scores["unsafe"]) < 1e-12


def test_the_shared_prefix_is_computed_once_per_forward_batch(guards):
    shapes = {}
    for reuse in (True, False):
        judge = guard(guards["llama_guard"], batch_size=4, categories=False, prefix_cache=reuse)
        seen = shapes[reuse] = []
        judge.model.register_forward_hook(lambda mod, args, kwargs, out, seen=seen: seen.append(
            tuple(kwargs["input_ids"].shape)), with_kwargs=True)
        judge.score(items())
    plain = shapes[False]
    assert [rows for rows, _ in plain] == [4, 4, 2]
    prefixes, own = shapes[True][0::2], shapes[True][1::2]
    # per forward batch: the shared start once (one row), then only each row's own tokens
    assert all(rows == 1 and width >= MIN_SHARED_TOKENS for rows, width in prefixes)
    assert own == [(rows, width - p) for (rows, width), (_, p) in zip(plain, prefixes)]


def test_shared_prefix_length_leaves_each_row_a_token():
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 9]]) == 2
    assert shared_prefix_length([[5, 2], [1, 2]]) == 0
    assert shared_prefix_length([[1, 2, 3]]) == 0  # one row: nothing to share


def test_a_single_record_batch_runs_the_plain_forward(guards):
    (one,) = guard(guards["llama_guard"]).score(items()[:1])
    assert one.details["prefix_cache"] is False and one.details["shared_prefix_tokens"] == 0


def test_prefix_cache_where_it_cannot_take_effect_is_an_error(guards, tiny_dir):
    with pytest.raises(ConfigError, match=r"prefix_cache only applies to mode: logits"):
        guard(guards["llama_guard"], mode="generate", prefix_cache=True)
    generate = guard(guards["llama_guard"], mode="generate")  # the default is fine, and recorded
    assert generate.score(items()[:2])[0].details["prefix_cache"] is False
    from tiny.llama_guard import build_tiny_llama_guard_vision

    vision = build_tiny_llama_guard_vision(tiny_dir / "scale-llama-guard-vision")
    with pytest.raises(UserError, match=r"prefix_cache applies to the text variants"):
        guard(vision, "llama_guard_3_vision", prefix_cache=True)


@pytest.fixture(scope="module")
def harmbench_dir(tiny_dir):
    template = published_text("harmbench_llama2_standard")
    prompts = [template.format(behavior=p, generation=r) for p, r in PAIRS]
    return build_tiny_judge(tiny_dir / "scale-hb-llama", arch="llama", answers=["Yes", "No"], calibration=prompts,
                            seed=1)


def test_prompted_judges_reuse_the_template_start_too(harmbench_dir):
    def build(**options):
        return registry.build({"judge": "harmbench_classifier", "model_id": str(harmbench_dir),
                               "local_files_only": True, "clip_tokens": None, **options})

    records = items()
    reused, plain = build().score(records), build(prefix_cache=False).score(records)
    for a, b in zip(reused, plain):
        assert a.details["scoring"] == "probability" == b.details["scoring"]
        assert abs(a.scores["jailbreak_success"] - b.scores["jailbreak_success"]) < 1e-5
        assert a.details["prefix_cache"] is True and b.details["prefix_cache"] is False
    assert reused[0].details["shared_prefix_tokens"] >= MIN_SHARED_TOKENS
    with pytest.raises(ConfigError, match=r"prefix_cache applies to the one forward pass of probability scoring"):
        build(scoring="parse", prefix_cache=True)
    with pytest.raises(ConfigError, match=r"prefix_cache only apply to backend: local"):
        registry.build({"judge": "harmbench_classifier", "backend": "openai_compatible",
                        "base_url": "http://127.0.0.1:9/v1", "model_id": "judge", "api_key_env": None,
                        "clip_tokens": None, "prefix_cache": False})
