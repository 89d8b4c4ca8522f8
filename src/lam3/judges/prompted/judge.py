"""The base of every prompted judge: fill a published template, ask a model, read its answer.

A subclass says which template slots it has, how a record fills them
(:meth:`PromptedJudge.query`) and how the answer is read (:meth:`PromptedJudge.reader`).
This class does the rest, once:

* a record with no behaviour (or no context where the prompt needs one) gets a per-record
  error naming the field; ``request: prompt`` judges against the attack prompt instead;
* the response is clipped as the judge's source does (``clip_tokens``), recorded in details;
* the backend answers; a probability answer (one forward pass / logprobs) gives the expected
  score and no verdict; a parsed answer gives its score and, when the answer is a decision
  (Yes/No), ``verdict = {metric: bool}``; an answer that cannot be read is an error starting
  ``unparseable:`` with the raw answer in details;
* every judgement records the backend, the model asked for and the one the server reported,
  the template's source and sha256, and how the score was read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import ValidationError

from lam3 import hf
from lam3.errors import ConfigError, DependencyError, UserError
from lam3.hf import transformers_available
from lam3.judges.base import Judge, ScoreInput
from lam3.judges.prompted.answers import Parsed, Reader, Unparseable, expected_score
from lam3.judges.prompted.backend import Backend, Mode, Query, Reply
from lam3.judges.prompted.config import PromptedConfig
from lam3.judges.prompted.templates import Template, check_fields, resolve
from lam3.records import Judgement


class RecordProblem(ValueError):
    """This record cannot be judged as configured (a missing behaviour, context, ...)."""


def prompted_availability() -> tuple[bool, str]:
    """Usable when either backend is: transformers here, or the openai SDK for an endpoint."""
    from lam3.judges.prompted.endpoint import endpoint_availability

    local_ok, local_why = transformers_available()
    remote_ok, remote_why = endpoint_availability()
    return (local_ok or remote_ok), ("" if local_ok or remote_ok else f"{local_why}; or {remote_why}")


class PromptedJudge(Judge):
    """A judge that asks an LLM a published question about a response (see the module docstring)."""

    metric = "jailbreak_success"
    offline = False
    batches_internally = True  # sorts each write batch by prompt length, then cuts batch_size batches
    Config = PromptedConfig
    label_maps = {"jailbreak_success": {"jailbreak_success": "jailbreak_success"}}
    SLOTS: ClassVar[dict[str, tuple[set[str], set[str]]]] = {}
    """template slot → (placeholders allowed, placeholders required)."""
    CLIP_KEEP: ClassVar[Literal["first", "last"]] = "first"
    CLIP_KEEPS_SPECIAL_TOKENS: ClassVar[bool] = False

    config: PromptedConfig

    def __init__(self, config: PromptedConfig | None = None) -> None:
        super().__init__(config)
        self.backend: Backend | None = None
        self.templates: dict[str, Template] = {}
        if config is not None:  # built to score: check everything now (no config = `lam3 judges` introspection)
            self._set_up()

    # -- what subclasses say ---------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return [self.metric]

    def reader(self) -> Reader:
        """How this judge reads its model's answer."""
        raise NotImplementedError

    def default_templates(self) -> dict[str, str | None]:
        """slot → the published template it defaults to (None: the user must give one)."""
        return {}

    def query(self, item: ScoreInput) -> tuple[Query, dict[str, Any]]:
        """The question about ``item`` and what to record about it; :class:`RecordProblem` when it cannot be asked."""
        raise NotImplementedError

    def exact_label_tokens(self) -> bool:
        """True when only the vocabulary entries named like the labels count (the source looks them up so)."""
        return False

    def check_config(self) -> None:
        """Judge-specific checks of a config built to score (raise ConfigError)."""

    # -- set-up ----------------------------------------------------------------------------------
    def _set_up(self) -> None:
        cfg = self.config
        self.check_config()
        if not cfg.model_id:
            raise ConfigError(f"judge {self.name!r} needs model_id: the judge model to ask", field="model_id")
        self.templates = self._templates()
        self._reader = self.reader()
        if cfg.scoring == "probability" and not self._reader.labels:
            raise ConfigError(f"{self.name} reads a free-text answer here; scoring: probability needs one-token "
                              "answer labels (use scoring: parse or auto)", field="scoring")
        self.backend = self._backend()

    def _templates(self) -> dict[str, Template]:
        """Each slot's template: the YAML override or the published default, placeholders checked."""
        given = self.config.templates
        unknown = sorted(set(given) - set(self.SLOTS))
        if unknown:
            raise ConfigError(f"unknown template slot(s) {', '.join(unknown)}; {self.name} has "
                              f"{', '.join(sorted(self.SLOTS))}", field="templates")
        out = {}
        for slot, published in self.default_templates().items():
            if published is None and slot not in given:
                continue
            template = resolve(slot, given.get(slot), published)
            allowed, required = self.SLOTS[slot]
            try:
                check_fields(slot, template.text, allowed, required)
            except ValueError as exc:
                raise ConfigError(str(exc), field=f"templates.{slot}") from None
            out[slot] = template
        return out

    def _backend(self) -> Backend:
        """The configured backend, after checking what it needs here (nothing is loaded yet)."""
        cfg = self.config
        if cfg.backend == "openai_compatible":
            from lam3.judges.prompted.endpoint import EndpointBackend, endpoint_availability

            ok, why = endpoint_availability()
            if not ok:
                raise DependencyError(f"backend: openai_compatible {why}")
            return EndpointBackend(cfg, name=self.name)
        if cfg.backend == "vllm":
            from lam3.models.vllm_backend import vllm_available
            from lam3.judges.prompted.vllm_backend import VllmBackend

            ok, why = vllm_available()
            if not ok:
                raise DependencyError(f"backend: vllm unavailable: {why}; use backend: local or openai_compatible")
            return VllmBackend(cfg, exact_label_tokens=self.exact_label_tokens())
        ok, why = transformers_available()
        if not ok:
            raise DependencyError(f"backend: local {why}")
        from lam3.judges.prompted.local import LocalBackend, loader_options

        try:
            options = loader_options(cfg)  # the one loader's checks (a revision on a local folder, ...)
        except ValidationError as exc:
            raise ConfigError(exc.errors()[0]["msg"].removeprefix("Value error, "), field="revision") from None
        hf.resolve_quantization(options)  # 4-bit where it cannot run: the error that says how to turn it off

        return LocalBackend(cfg, exact_label_tokens=self.exact_label_tokens())

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return prompted_availability()

    def load(self) -> dict[str, Any]:
        assert self.backend is not None, "build the judge with a config to score"
        loaded = self.backend.load()
        self._check_chat_template()
        self._check_mode()
        return loaded

    def _check_chat_template(self) -> None:
        """Fail before the first record when the local chat template refuses this judge's messages."""
        from lam3.judges.prompted.local import LocalBackend

        if not isinstance(self.backend, LocalBackend):
            return
        probe = ScoreInput(id="probe", text="probe", prompt="probe", behavior="probe", context="probe")
        try:
            query, _ = self.query(probe)
        except RecordProblem:
            return
        if not query.is_chat:
            return
        try:
            self.backend.prompt_text(query)
        except UserError:
            raise
        except Exception as exc:
            hint = " (set merge_system: true)" if any(m["role"] == "system" for m in query.messages or []) else ""
            raise ConfigError(f"the chat template of {self.config.model_id!r} refuses this judge's messages{hint}: "
                              f"{type(exc).__name__}: {exc}", field="model_id") from None

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()

    # -- helpers for subclasses --------------------------------------------------------------------
    def request(self, item: ScoreInput) -> str:
        """What the response is judged against: the behaviour, or (``request: prompt``) the attack prompt."""
        if self.config.request == "prompt":
            if item.prompt is None or not str(item.prompt).strip():
                raise RecordProblem("prompt: the record has no prompt, and this judge is configured with "
                                    "request: prompt")
            return str(item.prompt)
        if item.behavior is None or not str(item.behavior).strip():
            raise RecordProblem(f"behavior: the record has no behaviour (what the attacker asked for); "
                                f"{self.name} compares the response with it. Set behavior_field in the score "
                                "config, or request: prompt to judge against the attack prompt")
        return str(item.behavior)

    def chat(self, user: str, system: str | None = None) -> Query:
        """Chat messages, with the system prompt merged into the user message when ``merge_system``."""
        if system is None:
            return Query(messages=[{"role": "user", "content": user}])
        if self.config.merge_system:
            return Query(messages=[{"role": "user", "content": f"{system}\n\n{user}"}])
        return Query(messages=[{"role": "system", "content": system}, {"role": "user", "content": user}])

    def clip(self, text: str) -> tuple[str, dict[str, Any]]:
        """The response as the source clips it (through the judge tokenizer), and what happened."""
        n = self.config.clip_tokens
        if n is None:
            return text, {}
        assert self.backend is not None
        tokenizer = self.backend.clip_tokenizer()
        before = tokenizer.truncation_side
        tokenizer.truncation_side = "left" if self.CLIP_KEEP == "last" else "right"
        try:
            ids = tokenizer(text, max_length=n, truncation=True)["input_ids"]
            total = len(tokenizer(text)["input_ids"])
        finally:
            tokenizer.truncation_side = before
        clipped = tokenizer.decode(ids, skip_special_tokens=not self.CLIP_KEEPS_SPECIAL_TOKENS)
        return clipped, {"clip": {"tokens": n, "kept": self.CLIP_KEEP, "response_tokens": total,
                                  "clipped": total > n}}

    def template_details(self, *slots: str) -> dict[str, Any]:
        return {"templates": {slot: self.templates[slot].describe() for slot in slots}}

    # -- scoring -----------------------------------------------------------------------------------
    def mode(self) -> Mode:
        """How answers are read on this backend (auto stays auto on an endpoint: logprobs when it returns them;
        on vLLM: the greedy text and, where the labels are one token, their logprobs, in one request)."""
        from lam3.judges.prompted.local import LocalBackend
        from lam3.judges.prompted.vllm_backend import VllmBackend

        cfg = self.config
        if cfg.scoring != "auto" or not self._reader.labels:
            return "parse" if not self._reader.labels else cfg.scoring
        if isinstance(self.backend, (LocalBackend, VllmBackend)) and self.backend.label_ids(self._reader) is None:
            return "parse"
        return "probability" if isinstance(self.backend, LocalBackend) else "auto"

    def _check_mode(self) -> None:
        """``scoring: probability`` on a backend with the model here needs every label to be one of its tokens."""
        from lam3.judges.prompted.local import LocalBackend
        from lam3.judges.prompted.vllm_backend import VllmBackend

        if (self.config.scoring == "probability" and isinstance(self.backend, (LocalBackend, VllmBackend))
                and self.backend.label_ids(self._reader) is None):
            raise ConfigError(f"scoring: probability needs every answer label ({', '.join(self._reader.labels)}) to "
                              f"be one token of {self.config.model_id!r}; use scoring: parse or auto",
                              field="scoring")

    def score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        assert self.backend is not None, "build the judge with a config to score"
        self.load()
        mode = self.mode()
        results: list[Judgement | None] = [None] * len(batch)
        todo: list[tuple[int, Query, dict[str, Any]]] = []
        for i, item in enumerate(batch):
            try:
                query, details = self.query(item)
            except RecordProblem as exc:
                results[i] = self.failed(str(exc), {})
                continue
            todo.append((i, query, details))
        size = max(1, len(todo) if self.backend.kind == "local" else self.config.batch_size)  # local cuts its own
        for start in range(0, len(todo), size):
            chunk = todo[start:start + size]
            replies = self.backend.run([q for _, q, _ in chunk], self._reader, mode, self.config.max_new_tokens)
            for (i, _, details), reply in zip(chunk, replies):
                results[i] = self.read_reply(reply, details, mode)
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            raise RuntimeError(f"internal error: no judgement for batch positions {missing}")
        return [r for r in results if r is not None]

    def reply_details(self, reply: Reply, details: dict[str, Any]) -> dict[str, Any]:
        """What every judgement records of its call (backend, model asked for and served, ...) plus ``details``."""
        assert self.backend is not None
        base: dict[str, Any] = {"backend": self.backend.kind, "model": self.config.model_id, **details}
        if self.backend.kind in ("local", "vllm"):
            base["revision"] = self.config.revision
        else:
            base["model_served"] = reply.model
        base.update(reply.details)
        return base

    def failed(self, error: str, details: dict[str, Any], latency_ms: float | None = None) -> Judgement:
        """A per-record error that keeps what is known of the call."""
        return Judgement.failed(self.name, self.version, self.metric, error, latency_ms=latency_ms, details=details)

    def read_reply(self, reply: Reply, details: dict[str, Any], mode: Mode) -> Judgement:
        """How a reply becomes a judgement; a judge with its own answer shape (Llama Guard's) overrides it."""
        details = self.reply_details(reply, details)
        if reply.error is not None:
            return self.failed(reply.error, details, reply.latency_ms)
        if reply.mass and sum(reply.mass.values()) > 0.0:
            score, probs = expected_score(self._reader, reply.mass)
            details.update(scoring="probability", answer_probs={k: round(v, 6) for k, v in probs.items()},
                           answer_mass=round(sum(reply.mass.values()), 6), answer_tokens=reply.tokens)
            if reply.text is not None:
                details["raw_answer"] = reply.text
            return self.judgement({self.metric: score}, latency_ms=reply.latency_ms, details=details)
        if reply.text is None or mode == "probability":
            details["raw_answer"] = reply.text
            return self.failed("unparseable: no answer label among the first token's candidates (scoring: "
                                "probability)", details, reply.latency_ms)
        details.update(scoring="parse", raw_answer=reply.text)
        try:
            parsed: Parsed = self._reader.read(reply.text)
        except Unparseable as exc:
            return self.failed(f"unparseable: {exc}", details, reply.latency_ms)
        details["answer"] = parsed.label
        details.update(parsed.details)
        verdict = {self.metric: parsed.score == 1.0} if self._reader.decides else None
        return self.judgement({self.metric: parsed.score}, verdict=verdict, latency_ms=reply.latency_ms,
                              details=details)
