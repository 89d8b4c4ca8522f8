"""Inspect AI eval logs (``.eval`` and ``.json``) read as LAM3 responses, for ``lam3 score``.

Read through ``inspect_ai.log`` only (the ``.eval`` ZIP is zstd-compressed and its schema changes
between 0.3 releases), one sample at a time. Each ``EvalSample`` becomes one response:

- ``id`` = ``"<sample id>#<epoch>"`` (a sample repeats once per epoch), ``sample_id`` = the sample id;
- ``prompt`` = the text of the input's user messages, ``response`` = ``output.completion``;
- ``behavior`` = ``metadata["behavior"]``, else the target text; ``behavior_id``, ``category``,
  ``context`` and ``attack`` from the sample metadata where present;
- ``model_id`` = the log's model (e.g. ``mockllm/model``); ``error`` = the sample's error message;
- ``inspect`` = ``{log, task, eval_id, epoch, scores, metadata}`` (Inspect's own scores kept).

Images embedded in a log (``attachment://`` / ``data:``) are not written out: they are counted in
``inspect.inline_images`` and text judges are unaffected; an image given as a file path is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lam3.errors import DependencyError, UserError


def _need_inspect() -> None:
    try:
        import inspect_ai  # noqa: F401
    except ImportError:
        raise DependencyError("reading Inspect AI logs needs inspect-ai: pip install 'lam3[inspect]'") from None


def is_file_image(ref: str) -> bool:
    return not ref.startswith(("data:", "attachment://"))


def user_text_and_images(messages: Any) -> tuple[str, list[str], int]:
    """(text of the user messages, image references, how many were inline) of an Inspect input."""
    if isinstance(messages, str):
        return messages, [], 0
    texts: list[str] = []
    images: list[str] = []
    inline = 0
    for message in messages or []:
        if getattr(message, "role", None) != "user":
            continue
        content = message.content
        if isinstance(content, str):
            texts.append(content)
            continue
        for part in content:
            kind = getattr(part, "type", None)
            if kind == "text":
                texts.append(part.text)
            elif kind == "image":
                images.append(part.image)
                inline += not is_file_image(part.image)
    return "\n".join(texts), images, inline


def behavior_of(metadata: dict[str, Any], target: Any) -> str | None:
    """The behaviour in plain words: ``metadata["behavior"]``, else the target text."""
    if metadata.get("behavior"):
        return str(metadata["behavior"])
    text = target if isinstance(target, str) else "\n".join(str(t) for t in (target or []))
    return text or None


def response_record(sample: Any, *, model: str, task: str, eval_id: str, log: Path) -> dict[str, Any]:
    meta = dict(sample.metadata or {})
    prompt, images, inline = user_text_and_images(sample.input)
    output = sample.output
    return {
        "id": f"{sample.id}#{sample.epoch}", "sample_id": str(sample.id), "prompt": prompt,
        "images": [i for i in images if is_file_image(i)],
        "response": output.completion if output is not None else "",
        "behavior": behavior_of(meta, sample.target), "behavior_id": meta.get("behavior_id"),
        "category": meta.get("category"), "context": meta.get("context"), "attack": meta.get("attack") or "clean",
        "model_id": model, "error": sample.error.message if sample.error else None,
        "inspect": {"log": str(log), "task": task, "eval_id": eval_id, "epoch": sample.epoch,
                    "scores": {k: s.value for k, s in (sample.scores or {}).items()}, "metadata": meta,
                    "inline_images": inline},
    }


def read_eval_log_responses(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(sample number, response record)`` for every sample of an Inspect log, streaming."""
    _need_inspect()
    from inspect_ai.log import read_eval_log, read_eval_log_samples

    try:
        header = read_eval_log(str(path), header_only=True)
    except Exception as exc:  # the log library raises many types for a file it cannot read
        raise UserError(f"not an Inspect AI eval log this inspect-ai can read ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}); JSONL inputs must end in .jsonl",
                        path=path) from None
    if header.status == "error" and not (header.results and header.results.completed_samples):
        message = header.error.message if header.error else "unknown error"
        raise UserError(f"the Inspect eval failed and holds no samples: {message}", path=path)
    spec = header.eval
    samples = read_eval_log_samples(str(path), all_samples_required=False)
    for n, sample in enumerate(samples, start=1):
        yield n, response_record(sample, model=spec.model, task=spec.task, eval_id=spec.eval_id, log=path)
