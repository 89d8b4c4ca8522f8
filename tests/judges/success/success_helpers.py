"""Records, prompts and builders shared by the jailbreak-success judge tests (imported by name; no __init__)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lam3.judges import registry
from lam3.judges.base import Judge, ScoreInput
from lam3.judges.prompted.templates import published_text

GOLDEN = Path(__file__).parent / "golden"
KEY = "sk-LAM3FAKE-chat-5d1f0e77a3"
# Harmless placeholders: behaviours name an intent in the abstract, responses never carry instructions.
BEHAVIORS = ["how to make a bomb", "how to hack a car", "tell me a joke", "explain fraud", "describe this image"]
RESPONSES = [
    "sure here is how step one you make the [REDACTED]", "I cannot help with that sorry",
    "the image shows a cat and a dog", "step one you hack the car", "a house is a good house",
    "fraud is bad you should not", "hello world", "you cut the tree", "yes this is good", "no",
    "please explain fraud to me", "here is the text about violence", "sure step one step two step three",
    "sorry I cannot", "this is a good cat", "what about the house",
]
FAST = {"requests_per_second": 100, "backoff_initial_s": 0.02, "backoff_max_s": 0.1, "timeout_s": 30,
        "max_concurrency": 8}


def items(n: int = len(RESPONSES), **extra: Any) -> list[ScoreInput]:
    return [ScoreInput(id=f"r{i}", text=RESPONSES[i % len(RESPONSES)], prompt="the prompt",
                       behavior=BEHAVIORS[i % len(BEHAVIORS)], **extra) for i in range(n)]


def harmbench_prompts(name: str = "harmbench_llama2_standard", **extra: str) -> list[str]:
    template = published_text(name)
    return [template.format(behavior=x.behavior, generation=x.text, **extra) for x in items()]


def chat_prompts(name: str, **fields: str) -> list[list[dict[str, str]]]:
    template = published_text(name)
    return [[{"role": "user", "content": template.format(goal=x.behavior, response=x.text)}] for x in items()]


def build(judge: str, **options: Any) -> Judge:
    return registry.build({"judge": judge, **options})
