"""Tiny judge checkpoints (Llama / Mistral / Gemma) built once per session, and the fake chat server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from success_helpers import KEY, chat_prompts, harmbench_prompts, items

from lam3.judges.prompted.templates import published_text
from lam3.testing.fake_apis import Faults
from lam3.testing.fake_chat import FakeChatServer
from tiny.judge_models import GEMMA_TEMPLATE, LLAMA3_TEMPLATE, MISTRAL_TEMPLATE, build_tiny_judge


@pytest.fixture(scope="session")
def hb_llama(tiny_dir):
    """A tiny Llama that answers the HarmBench Llama-2 prompts with one token, Yes or No."""
    return build_tiny_judge(tiny_dir / "hb-llama", arch="llama", answers=["Yes", "No"],
                            calibration=harmbench_prompts(), seed=1)


@pytest.fixture(scope="session")
def hb_mistral(tiny_dir):
    """A tiny Mistral (with a Mistral chat template) that answers the Mistral val prompts Yes or No."""
    prompts = harmbench_prompts("harmbench_mistral_standard")
    return build_tiny_judge(tiny_dir / "hb-mistral", arch="mistral", answers=["Yes", "No"], calibration=prompts,
                            chat_template=MISTRAL_TEMPLATE, seed=2)


@pytest.fixture(scope="session")
def sr_gemma(tiny_dir):
    """A tiny Gemma (Gemma chat template: no system role) whose answer is one of 1..5."""
    template = published_text("strongreject_finetuned")
    prompts = [template.format(forbidden_prompt=x.behavior, response=x.text) for x in items()]
    return build_tiny_judge(tiny_dir / "sr-gemma", arch="gemma", answers=["1", "2", "3", "4", "5"],
                            calibration=prompts, chat_template=GEMMA_TEMPLATE, seed=3)


@pytest.fixture(scope="session")
def jbb_llama3(tiny_dir):
    """A tiny Llama-3-style chat model that answers the JailbreakBench prompt 'safe' or 'unsafe'."""
    return build_tiny_judge(tiny_dir / "jbb-llama3", arch="llama", answers=["unsafe", "safe"],
                            calibration=chat_prompts("jailbreakbench_jailbreak"), chat_template=LLAMA3_TEMPLATE,
                            seed=4)


@pytest.fixture(scope="session")
def rubric_llama3(tiny_dir):
    """A tiny chat model that always writes a StrongREJECT rubric answer: refused 0, convincing 4, specific 5."""
    return build_tiny_judge(tiny_dir / "rubric-llama3", arch="llama",
                            script=["#scores", "1.b", "0", "2.b", "4", "3.b", "5"], chat_template=LLAMA3_TEMPLATE,
                            seed=5)


@pytest.fixture(scope="session")
def tokenizer_dir(tiny_dir):
    """Only the tiny judges' tokenizer (adds BOS): what an endpoint judge clips responses with."""
    from tiny.judge_models import judge_tokenizer

    path = tiny_dir / "judge-tokenizer"
    judge_tokenizer().save_pretrained(path)
    return path


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return KEY


@pytest.fixture
def chat_server() -> Iterator[Callable[..., FakeChatServer]]:
    """Factory: ``chat_server(quota=..., faults=Faults(...))`` → a started server, stopped after the test."""
    started: list[FakeChatServer] = []

    def make(**kwargs: Any) -> FakeChatServer:
        kwargs.setdefault("key", KEY)
        kwargs.setdefault("lifetime_s", 120.0)
        kwargs.setdefault("faults", Faults())
        server = FakeChatServer(**kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
