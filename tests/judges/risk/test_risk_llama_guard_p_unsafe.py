"""P(unsafe) of Llama Guard is the model cards' definition: the first answer token's probability of 'unsafe',
softmax over the whole vocabulary (wave 1 renormalised over {safe, unsafe}; that stays as ``p_unsafe: two_token``).

The tiny guard here puts real mass on a third token at the answer position, so the two definitions differ
by a lot; the reference is computed apart from the judge: one record at a time, no padding, the builtin
prompt text (golden-tested equal to the chat template), softmax over every logit in float64.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

import lam3.cli  # noqa: F401  (attaches the commands to the app)
from lam3.cli.app import app
from lam3.judges import registry
from lam3.judges.base import ScoreInput
from lam3.judges.llama_guard_prompt import LLAMA_GUARD_2

ROOT = Path(__file__).resolve().parents[3]
WORDS = ("how to make a bomb hack a car tell me joke describe this image shows cat dog tree house fraud drug kill "
         "sorry I cannot help with that sure here is step one you your please thanks hello world good bad").split()


def _pairs(n: int = 40) -> list[tuple[str, str]]:
    rng = random.Random(0)
    out = []
    for _ in range(n):
        response = " ".join(rng.choices(WORDS, k=rng.randint(3, 15)))
        out.append((" ".join(rng.choices(WORDS, k=rng.randint(3, 8))), response))
    return out


PAIRS = _pairs()


def items() -> list[ScoreInput]:
    return [ScoreInput(id=str(i), text=r, prompt=p) for i, (p, r) in enumerate(PAIRS)]


@pytest.fixture(scope="module")
def reference(lg_distractor_dir):
    """Per record: (P(unsafe), P(safe), the greedy first token) over the whole vocabulary."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(lg_distractor_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(lg_distractor_dir, local_files_only=True, dtype=torch.float32).eval()
    safe, unsafe = tok.convert_tokens_to_ids("safe"), tok.convert_tokens_to_ids("unsafe")
    out = []
    with torch.no_grad():
        for prompt, response in PAIRS:
            text = LLAMA_GUARD_2.build(prompt, response) + LLAMA_GUARD_2.answer_prefix
            enc = tok(text, add_special_tokens=False, return_tensors="pt")
            probs = torch.softmax(model(**enc).logits[0, -1].double(), dim=-1)
            out.append((probs[unsafe].item(), probs[safe].item(), tok.convert_ids_to_tokens(int(probs.argmax()))))
    return out


def guard(path, **options):
    return registry.build({"judge": "llama_guard", "model_id": str(path), "local_files_only": True,
                           "batch_size": 16, **options})


@pytest.fixture(scope="module")
def judged(lg_distractor_dir):
    """The records judged under each definition (one judge each, scored once for the module)."""
    return {definition: guard(lg_distractor_dir, p_unsafe=definition).score(items())
            for definition in ("vocabulary", "two_token")}


def test_the_tiny_guard_tells_the_definitions_apart(reference):
    masses = [pu + ps for pu, ps, _ in reference]
    assert min(masses) < 0.7 and max(masses) > 0.95  # {safe, unsafe} hold from well under 1 to nearly all


def test_default_p_unsafe_is_softmax_over_the_whole_vocabulary(lg_distractor_dir, reference, judged):
    assert guard(lg_distractor_dir).config.p_unsafe == "vocabulary"
    for j, (pu, ps, _) in zip(judged["vocabulary"], reference):
        assert j.error is None
        assert j.details["p_unsafe_definition"] == "vocabulary"
        assert j.scores["unsafe"] == pytest.approx(pu, abs=1e-5)
        assert j.details["verdict_token_mass"] == pytest.approx(pu + ps, abs=1e-5)


def test_two_token_option_renormalises_over_safe_and_unsafe(reference, judged):
    out = judged["two_token"]
    for j, (pu, ps, _) in zip(out, reference):
        assert j.details["p_unsafe_definition"] == "two_token"
        assert j.scores["unsafe"] == pytest.approx(pu / (pu + ps), abs=1e-5)
    assert max(abs(j.scores["unsafe"] - pu) for j, (pu, _, _) in zip(out, reference)) > 0.1


@pytest.mark.parametrize("definition", ["vocabulary", "two_token"])
def test_categories_follow_the_models_greedy_answer_never_a_threshold(reference, judged, definition):
    out = judged[definition]
    for j, (pu, ps, _) in zip(out, reference):
        assert j.details["verdict"] == ("unsafe" if pu > ps else "safe")
        assert bool(j.details["categories"]) == (pu > ps)
    # a record the model answers 'unsafe' (its greedy first token) with P(unsafe) < 0.5 still gets its categories
    below = [k for k, (pu, _, first) in enumerate(reference) if first == "unsafe" and pu < 0.5]
    assert below, "the fixture must hold such a record, or the check below proves nothing"
    assert all(out[k].details["categories"] for k in below)


def test_generate_mode_writes_the_same_first_answer(lg_distractor_dir, reference, judged):
    """Greedy generation starts with the answer the logits-mode gate chose, and records the same P(unsafe)."""
    generated = guard(lg_distractor_dir, mode="generate").score(items())
    for a, b, (pu, _, first) in zip(judged["vocabulary"], generated, reference):
        assert b.error is None and b.details["p_unsafe"] == pytest.approx(pu, abs=1e-5)
        assert b.details["verdict"] == a.details["verdict"] == first


def test_lam3_score_with_the_shipped_config_writes_the_model_card_p_unsafe(tmp_path, lg_distractor_dir, reference):
    data = yaml.safe_load((ROOT / "configs" / "risk_llamaguard.yaml").read_text())
    data["judges"][0].update(model_id=str(lg_distractor_dir), local_files_only=True)
    config = tmp_path / "guard.yaml"
    config.write_text(yaml.safe_dump(data))
    inp = tmp_path / "responses.jsonl"
    inp.write_text("".join(json.dumps({"id": str(i), "prompt": p, "response": r}) + "\n"
                           for i, (p, r) in enumerate(PAIRS)))
    out = tmp_path / "risk_scored.jsonl"
    result = CliRunner().invoke(app, ["score", str(inp), "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output[-2000:]
    rows = {r["id"]: r["judgements"]["llama_guard"] for r in map(json.loads, out.read_text().splitlines())}
    for i, (pu, ps, _) in enumerate(reference):
        assert rows[str(i)]["details"]["p_unsafe_definition"] == "vocabulary"
        assert rows[str(i)]["scores"]["unsafe"] == pytest.approx(pu, abs=1e-5)
        assert bool(rows[str(i)]["details"]["categories"]) == (pu > ps)
