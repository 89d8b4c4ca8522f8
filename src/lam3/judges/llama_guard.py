"""Policy-risk judges that run locally on transformers: Llama Guard 2/3/3-Vision.

Llama Guard judges the *response* (role ``Agent``) in the context of the user's
prompt. Its score is P(unsafe), read from the next-token distribution right
after the prompt, in one left-padded batched forward pass instead of a decoding loop.
By default (``p_unsafe: vocabulary``) it is what Meta's model cards define: the
probability of the 'unsafe' token as the first answer token, softmax over the whole
vocabulary. ``p_unsafe: two_token`` renormalises over {safe, unsafe} instead (LAM3's
wave-1 score); every judgement records which one it holds. Whether a record is unsafe
(and so gets its categories) is never a threshold on either number: it is the model's
own greedy answer, the one of 'safe'/'unsafe' it ranks first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from lam3 import hf
from lam3.errors import UserError
from lam3.judges.base import JudgeConfig, ScoreInput, Stopwatch
from lam3.judges.llama_guard_prompt import (
    LLAMA_GUARD_2,
    LLAMA_GUARD_3,
    LLAMA_GUARD_3_VISION,
    GuardAnswer,
    GuardVariant,
    MalformedOutput,
    parse_answer,
    unjudgeable,
)
from lam3.judges.local import LastStep, LocalJudge, cache_kwarg, last_step
from lam3.judges.registry import register
from lam3.paths import ImagePathError, ImageRootOption
from lam3.records import Judgement

PUnsafe = Literal["vocabulary", "two_token"]


class LlamaGuardConfig(hf.HFOptions, JudgeConfig):
    """Options of the Llama Guard judges (``model_id`` defaults to the variant's checkpoint)."""

    model_id: str = Field(LLAMA_GUARD_2.default_model, min_length=1, description="hub id or local directory")
    batch_size: int = Field(8, gt=0, description="records per forward pass")
    max_length: int = Field(4096, gt=0, description="longest prompt in tokens; longer records get a per-record error")
    p_unsafe: PUnsafe = Field(
        "vocabulary", description="vocabulary: P('unsafe' first) over the whole vocabulary (the model cards); "
                                  "two_token: renormalised over {safe, unsafe}")
    mode: Literal["logits", "generate"] = Field(
        "logits", description="logits: P(unsafe) from one forward pass; generate: parse the generated text")
    categories: bool = Field(True, description="logits mode: also ask unsafe records for their categories")
    category_max_new_tokens: int = Field(16, gt=0, description="budget for the category line of unsafe records")
    max_new_tokens: int = Field(24, gt=0, description="generate mode: budget for the whole answer")
    prompt_format: Literal["auto", "chat_template", "builtin"] = Field(
        "auto", description="auto: the checkpoint's chat template when it has one, else the built-in text")
    image_root: ImageRootOption = Field(
        None, description="vision variant: folder relative image paths start from, instead of the scored file's folder")
    prefix_cache: bool = Field(True, description=(
        "logits mode, text variants: compute the prompt start every record of a forward batch shares (the task "
        "and category block) once and reuse its KV cache; the same P(unsafe) up to float rounding"))

    @model_validator(mode="after")
    def _consistent(self) -> LlamaGuardConfig:
        if self.mode == "generate":
            clash = [k for k in ("categories", "category_max_new_tokens") if k in self.model_fields_set]
            if self.prefix_cache and "prefix_cache" in self.model_fields_set:
                clash.append("prefix_cache")
            if clash:
                raise ValueError(f"{', '.join(clash)} only applies to mode: logits (in generate mode the text decides)")
        elif "max_new_tokens" in self.model_fields_set:
            raise ValueError("max_new_tokens only applies to mode: generate (use category_max_new_tokens)")
        return self


class LlamaGuard3Config(LlamaGuardConfig):
    model_id: str = Field(LLAMA_GUARD_3.default_model, min_length=1, description="hub id or local directory")


class LlamaGuard3VisionConfig(LlamaGuardConfig):
    model_id: str = Field(LLAMA_GUARD_3_VISION.default_model, min_length=1, description="hub id or local directory")


@register("llama_guard")
class LlamaGuard(LocalJudge):
    """Llama Guard 2 (S1–S11) on transformers; the variants below reuse everything but the tables."""

    metric = "policy_risk"
    version = "1"
    description = "Llama Guard 2 8B: P(unsafe) of the response given the prompt, plus violated categories"
    Config = LlamaGuardConfig
    VARIANT: ClassVar[GuardVariant] = LLAMA_GUARD_2
    AUTO_MODEL: ClassVar[str] = "AutoModelForCausalLM"
    AUTO_TOKENIZER: ClassVar[str] = "AutoTokenizer"
    label_maps = {"policy_risk": dict(LLAMA_GUARD_2.to_policy)}
    batches_internally = True  # sorts each write batch by prompt length before cutting forward batches

    config: LlamaGuardConfig

    def __init__(self, config: LlamaGuardConfig | None = None) -> None:
        """Loads the checkpoint now (a missing model or extra fails before any record is read).

        Without a config (``lam3 judges`` listing labels) nothing is loaded.
        """
        if config is not None and config.image_root is not None and not self.VARIANT.multimodal:
            raise UserError("image_root only applies to the vision variant (llama_guard_3_vision)",
                            field="image_root")
        if (config is not None and self.VARIANT.multimodal and config.prefix_cache
                and "prefix_cache" in config.model_fields_set):
            raise UserError("prefix_cache applies to the text variants (llama_guard, llama_guard_3): the vision "
                            "model's cache also holds the image's cross-attention", field="prefix_cache")
        super().__init__(config)

    def load_weights(self) -> dict[str, Any]:
        loaded = hf.load_model(self.AUTO_MODEL, self.config)
        self.model = loaded.model
        self.processor = hf.load_processor(self.config, self.AUTO_TOKENIZER)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:  # Llama 3 tokenizers ship without one; masked anyway
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.safe_id, self.unsafe_id = self._verdict_ids()
        self.use_template = self._use_chat_template()
        return loaded.record

    # -- set-up ------------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return ["unsafe", *self.VARIANT.categories]

    def _verdict_ids(self) -> tuple[int, int]:
        """First token of 'safe' and of 'unsafe' (one token each in the Llama 3 tokenizer)."""
        ids = []
        for word in ("safe", "unsafe"):
            toks = self.tokenizer.encode(word, add_special_tokens=False)
            if not toks:
                raise UserError(f"tokenizer of {self.config.model_id!r} cannot encode {word!r}", field="model_id")
            ids.append(toks[0])
        if ids[0] == ids[1]:
            raise UserError(f"'safe' and 'unsafe' start with the same token in {self.config.model_id!r}; "
                            "P(unsafe) cannot be read from one token", field="model_id")
        return ids[0], ids[1]

    def _use_chat_template(self) -> bool:
        has = bool(getattr(self.processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None))
        if self.config.prompt_format == "chat_template" and not has:
            raise UserError(f"{self.config.model_id!r} has no chat template; use prompt_format: auto or builtin",
                            field="prompt_format")
        return has and self.config.prompt_format != "builtin"

    # -- prompts -----------------------------------------------------------------------------
    def build_prompt(self, prompt: str, response: str, *, image: bool = False) -> str:
        """The exact text the guard reads, up to (not including) its answer."""
        if self.use_template:
            owner = self.processor if getattr(self.processor, "chat_template", None) else self.tokenizer
            return owner.apply_chat_template(self.VARIANT.messages(prompt, response, image=image), tokenize=False)
        return self.VARIANT.build(prompt, response, image=image)

    def _check(self, item: ScoreInput) -> str | None:
        """Why this record cannot be judged (None when it can)."""
        problem = unjudgeable(item.prompt, item.text)
        if problem:
            return problem
        if len(item.images) > 1 and self.VARIANT.multimodal:
            return f"{len(item.images)} images: Llama Guard 3 Vision takes at most one image per record"
        return None

    def _image(self, item: ScoreInput) -> Any:
        from PIL import Image

        try:
            path = item.image_path(0, self.config.image_root)
        except ImagePathError as exc:
            raise _RecordError(f"cannot read image: {exc}" if exc.missing else str(exc)) from None
        try:
            with Image.open(path) as img:
                return img.convert("RGB")
        except OSError as exc:
            raise _RecordError(f"cannot read image {str(path)!r}: {exc}") from None

    # -- model calls -------------------------------------------------------------------------
    def _encode(self, texts: list[str], images: list[Any] | None) -> dict[str, Any]:
        if images:
            enc = self.processor(text=texts, images=[[im] for im in images], return_tensors="pt", padding=True,
                                 add_special_tokens=False)
        else:
            enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        device = hf.input_device(self.model)
        return {k: v.to(device) for k, v in enc.items()}

    def uses_prefix_cache(self, with_images: bool) -> bool:
        """Shared-prefix reuse where it is exact: logits mode, a text variant, rows without images."""
        text_only = not (with_images or self.VARIANT.multimodal)
        return self.config.prefix_cache and self.config.mode == "logits" and text_only

    def _forward_last(self, enc: dict[str, Any], keep_cache: bool = False, prefix_cache: bool = False) -> LastStep:
        """Next-token logits after each (left-padded) prompt: one forward pass (the shared prefix once).

        The cache (``keep_cache``) lets the category step continue the unsafe records without reading
        their prompts a second time.
        """
        return last_step(self.model, enc, keep_cache=keep_cache, prefix_cache=prefix_cache,
                         pad_id=self.tokenizer.pad_token_id)

    def _eos_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        found = set(ids if isinstance(ids, list) else [] if ids is None else [ids])
        if self.tokenizer.eos_token_id is not None:
            found.add(self.tokenizer.eos_token_id)
        return found

    def _continue_greedy(self, cache: Any, mask: Any, rows: list[int], prefix: list[int], max_new_tokens: int) -> list[str]:
        """Greedy decoding for ``rows`` of a cached batch, after feeding ``prefix`` token ids."""
        import torch

        device = mask.device
        index = torch.tensor(rows, device=device)
        cache.batch_select_indices(index)
        mask = mask[index]
        tokens = torch.tensor([prefix] * len(rows), device=device)
        position = mask.long().sum(-1, keepdim=True) + torch.arange(len(prefix), device=device)
        eos = torch.tensor(sorted(self._eos_ids()), device=device)
        done = torch.zeros(len(rows), dtype=torch.bool, device=device)
        generated: list[Any] = []
        cache_kw = cache_kwarg(self.model)
        with torch.inference_mode():
            for _ in range(max_new_tokens):
                mask = torch.cat([mask, torch.ones_like(tokens)], dim=-1)
                out = self.model(input_ids=tokens, attention_mask=mask, position_ids=position, use_cache=True,
                                 logits_to_keep=1, **{cache_kw: cache})
                nxt = out.logits[:, -1, :].argmax(-1)
                nxt = torch.where(done, torch.tensor(self.tokenizer.pad_token_id, device=device), nxt)
                generated.append(nxt)
                done |= torch.isin(nxt, eos)
                if bool(done.all()):
                    break
                tokens, position = nxt[:, None], position[:, -1:] + 1
        seqs = torch.stack(generated, dim=-1).tolist() if generated else [[] for _ in rows]
        texts = []
        for seq in seqs:
            cut = next((k for k, t in enumerate(seq) if t in self._eos_ids()), len(seq))
            texts.append(self.tokenizer.decode(seq[:cut], skip_special_tokens=True))
        return texts

    def _generate(self, enc: dict[str, Any], max_new_tokens: int) -> tuple[list[str], Any]:
        """Greedy answers (decoded text) and the first step's raw logits."""
        import torch

        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id, return_dict_in_generate=True,
                                      output_logits=True)
        new = out.sequences[:, enc["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return texts, torch.log_softmax(out.logits[0].float(), dim=-1)

    def _p_unsafe(self, logprobs: Any) -> tuple[list[float], list[float], list[bool]]:
        """P(unsafe) as configured, the raw mass of {safe, unsafe} (a prompt-format check), and the greedy answer.

        ``logprobs`` are log-softmax over the whole vocabulary at the first answer position, so
        ``vocabulary`` is the model cards' P(unsafe) as it stands; ``two_token`` renormalises the
        pair. The answer (True = unsafe) is which of the two the model ranks first — what greedy
        generation writes when it answers in Llama Guard's format — whatever the score's definition.
        """
        import torch

        pair = logprobs[:, [self.safe_id, self.unsafe_id]]
        if self.config.p_unsafe == "vocabulary":
            p = pair[:, 1].exp()
        else:
            p = torch.softmax(pair, dim=-1)[:, 1]
        mass = pair.exp().sum(-1)
        return p.tolist(), mass.tolist(), (pair[:, 1] > pair[:, 0]).tolist()

    # -- scoring -----------------------------------------------------------------------------
    def score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        """Judge a whole write batch: records sorted by prompt length, then ``batch_size`` per forward pass."""
        self.load()
        results: list[Judgement | None] = [None] * len(batch)
        rows: list[tuple[int, str, Any, int]] = []
        for i, item in enumerate(batch):
            problem = self._check(item)
            if problem:
                results[i] = self.failure(problem)
                continue
            try:
                image = self._image(item) if (self.VARIANT.multimodal and item.images) else None
                text = self.build_prompt(str(item.prompt), item.text, image=image is not None)
            except _RecordError as exc:
                results[i] = self.failure(str(exc))
                continue
            text += self.VARIANT.answer_prefix
            n_tokens = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
            if n_tokens > self.config.max_length:
                results[i] = self.failure(f"prompt is {n_tokens} tokens, over max_length {self.config.max_length}")
                continue
            rows.append((i, text, image, n_tokens))
        size = self.config.batch_size
        for with_images in (False, True):  # the processor is called differently with and without images
            group = sorted((r for r in rows if (r[2] is not None) == with_images), key=lambda r: r[3])
            for start in range(0, len(group), size):
                chunk = [(i, text, image) for i, text, image, _ in group[start:start + size]]
                for i, judgement in self._judge_rows(chunk, with_images):
                    results[i] = judgement
        return [r for r in results if r is not None]

    def _judge_rows(self, rows: list[tuple[int, str, Any]], with_images: bool) -> list[tuple[int, Judgement]]:
        import torch

        texts = [t for _, t, _ in rows]
        images = [im for _, _, im in rows] if with_images else None
        with Stopwatch() as sw:
            enc = self._encode(texts, images)
            if self.config.mode == "generate":
                outputs, logprobs = self._generate(enc, self.config.max_new_tokens)
                probs, mass, _ = self._p_unsafe(logprobs)
                answers: list[GuardAnswer | str] = []
                for text in outputs:
                    try:
                        answers.append(parse_answer(text, self.VARIANT.categories))
                    except MalformedOutput as exc:
                        answers.append(str(exc))
                raw = outputs
                shared = 0
            else:
                reuse = self.config.categories and not with_images
                step = self._forward_last(enc, keep_cache=reuse, prefix_cache=self.uses_prefix_cache(with_images))
                probs, mass, unsafe_first = self._p_unsafe(torch.log_softmax(step.logits, dim=-1))
                answers, raw = self._categories_for(rows, unsafe_first, images, enc, step)
                shared = step.shared
        per = sw.ms / len(rows)
        out = []
        for (i, _, _), p, m, answer, text in zip(rows, probs, mass, answers, raw):
            if isinstance(answer, str):
                out.append((i, self.failure(answer, latency_ms=per)))
                continue
            out.append((i, self._judgement(p, m, answer, text, per, shared)))
        return out

    def _categories_for(self, rows: list[tuple[int, str, Any]], unsafe_first: list[bool], images: list[Any] | None,
                        enc: dict[str, Any], step: LastStep) -> tuple[list[GuardAnswer | str], list[str | None]]:
        """Categories for the records judged unsafe, by a short greedy generation after 'unsafe\\n'.

        Why generation and not category-token probabilities: Llama Guard lists *several*
        categories ("S1,S10"), and codes such as "S10" are not one token in every
        tokenizer, so the probability of a single next token cannot express a
        multi-label answer; the generated line is exactly what the model was trained to
        write. The cost is paid only by the unsafe minority, with a budget of a few
        tokens, and (text variants) continues from the verdict pass's KV cache, so no
        prompt is read twice.
        """
        # the gate is the model's own greedy answer (unsafe ranked above safe), never a threshold on P(unsafe)
        answers: list[GuardAnswer | str] = [GuardAnswer("unsafe" if u else "safe", [], []) for u in unsafe_first]
        raw: list[str | None] = [None] * len(rows)
        unsafe = [k for k, a in enumerate(answers) if isinstance(a, GuardAnswer) and a.verdict == "unsafe"]
        if not unsafe or not self.config.categories:
            return answers, raw
        if step.cache is not None:
            prefix = self.tokenizer.encode("unsafe", add_special_tokens=False) + self.tokenizer.encode(
                "\n", add_special_tokens=False)
            lines = self._continue_greedy(step.cache, step.mask, unsafe, prefix, self.config.category_max_new_tokens)
        else:
            texts = [rows[k][1] + "unsafe\n" for k in unsafe]
            again = self._encode(texts, [images[k] for k in unsafe] if images else None)
            lines, _ = self._generate(again, self.config.category_max_new_tokens)
        for k, line in zip(unsafe, lines):
            parsed = parse_answer("unsafe\n" + line, self.VARIANT.categories)
            answers[k] = parsed
            raw[k] = "unsafe\n" + line
        return answers, raw

    def _judgement(self, p: float, mass: float, answer: GuardAnswer, raw: str | None, latency_ms: float,
                   shared: int) -> Judgement:
        scores = {"unsafe": p}
        if answer.verdict == "unsafe":
            scores.update({code: (p if code in answer.categories else 0.0) for code in self.VARIANT.categories})
        details: dict[str, Any] = {
            "verdict": answer.verdict, "categories": answer.categories,
            "category_names": [self.VARIANT.categories[c] for c in answer.categories],
            "p_unsafe": p, "p_unsafe_definition": self.config.p_unsafe, "verdict_token_mass": round(mass, 6),
            "mode": self.config.mode,
            "prefix_cache": shared > 0, "shared_prefix_tokens": shared,
            "prompt_format": "chat_template" if self.use_template else "builtin",
            "variant": self.VARIANT.key, **self.identity()}
        if answer.unparsed:
            details["unparsed"] = answer.unparsed
        if raw is not None:
            details["raw_output"] = raw
        # generate mode: the generated text decides (a label-type judge); logits mode: fusion thresholds P(unsafe)
        verdict = {"policy_risk": answer.verdict == "unsafe"} if self.config.mode == "generate" else None
        return self.judgement(scores, verdict=verdict, latency_ms=latency_ms, details=details)


class _RecordError(Exception):
    """A problem with one record (unreadable image, ...): becomes that record's error."""


@register("llama_guard_3")
class LlamaGuard3(LlamaGuard):
    """Llama Guard 3 8B (S1–S14)."""

    description = "Llama Guard 3 8B: P(unsafe) of the response given the prompt, plus violated categories (S1–S14)"
    Config = LlamaGuard3Config
    VARIANT = LLAMA_GUARD_3
    label_maps = {"policy_risk": dict(LLAMA_GUARD_3.to_policy)}


@register("llama_guard_3_vision")
class LlamaGuard3Vision(LlamaGuard):
    """Llama Guard 3 11B Vision (S1–S13): also sees the record's image (at most one)."""

    description = "Llama Guard 3 11B Vision: judges the response given the prompt and its image (S1–S13)"
    Config = LlamaGuard3VisionConfig
    VARIANT = LLAMA_GUARD_3_VISION
    AUTO_MODEL = "AutoModelForImageTextToText"
    AUTO_TOKENIZER = "AutoProcessor"
    label_maps = {"policy_risk": dict(LLAMA_GUARD_3_VISION.to_policy)}
