"""Shared helpers for benchmark scripts: peak RSS of a child command, machine description."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time


def run_measured(cmd: list[str]) -> tuple[float, int, int]:
    """Run ``cmd`` in a fresh wrapper process; return (seconds, peak RSS in KiB, return code)."""
    wrapper = (
        "import resource, subprocess, sys, time, json;"
        "t=time.perf_counter(); rc=subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode;"
        "print(json.dumps([time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc]))"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, check=True)
    import json

    seconds, rss, rc = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds, rss, rc


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"


def torch_and_ray() -> str:
    """The engines part of a Ray benchmark's header: torch (threads the single process uses) and Ray."""
    import ray
    import torch

    return f"torch {torch.__version__} ({torch.get_num_threads()} threads in the single process), ray {ray.__version__}"


WORDS = ("how to make a bomb hack a car tell me joke describe this image shows cat dog tree house fraud drug "
         "sorry I cannot help with that sure here is step one you your please thanks hello world good bad").split()
"""Harmless placeholder vocabulary (words the tiny models' tokenizers know)."""


def placeholder_records(n: int, *, response_words: tuple[int, int] = (5, 40), seed: int = 0) -> list[dict]:
    """``n`` records (id, prompt, behavior, response) of placeholder words: the input benchmarks score."""
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        prompt = " ".join(rng.choices(WORDS, k=rng.randint(4, 10)))
        out.append({"id": f"r{i}", "prompt": prompt, "behavior": prompt,
                    "response": " ".join(rng.choices(WORDS, k=rng.randint(*response_words)))})
    return out


def write_jsonl(path, rows: list[dict]) -> None:
    import json

    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
