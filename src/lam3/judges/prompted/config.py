"""The YAML options every prompted judge shares: which backend, which model, how to read the answer.

One flat entry per judge; ``backend`` picks where the judge model runs:

* ``local``: transformers on this machine. The loading keys use the vocabulary of the
  one HF loader (``model_id``, ``revision``, ``local_files_only``, ``cache_dir``,
  ``device_map``, ``precision``, ``quantization``); batches are left padded.
* ``openai_compatible``: any chat-completions server (``vllm serve``, Ollama, Together,
  OpenAI) through the official ``openai`` SDK, under LAM3's quota limiter and retries
  (the :class:`~lam3.judges.remote.RemoteConfig` keys).
* ``vllm``: vLLM's offline engine (``vllm.LLM``) on this machine's GPU (extra ``vllm``), with
  automatic prefix caching; the keys it honours are ``VLLM_KEYS``.

A key that belongs to the other backend is an error, never silently ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lam3.hf import QUANTIZATION_OFF, AttnImplementation, QuantizationConfig
from lam3.judges.prompted.templates import TemplateSource
from lam3.judges.remote import RemoteConfig, http_url

Backend = Literal["local", "openai_compatible", "vllm"]
Scoring = Literal["auto", "probability", "parse"]

LOCAL_KEYS: frozenset[str] = frozenset({"revision", "local_files_only", "cache_dir", "device_map", "precision",
                                        "quantization", "attn_implementation", "max_length", "prefix_cache"})
ENDPOINT_KEYS: frozenset[str] = frozenset({
    "base_url", "api_key_env", "top_logprobs", "seed", "expect_served_model", "clip_tokenizer",
    *(set(RemoteConfig.model_fields) - {"batch_size", "threshold"})})
CLIP_TOKENIZER_KEYS: frozenset[str] = frozenset({"revision", "local_files_only", "cache_dir"})
"""Loading keys the endpoint backend accepts too, for the tokenizer it clips responses with."""
VLLM_ONLY_KEYS: frozenset[str] = frozenset({"tensor_parallel_size", "gpu_memory_utilization"})
VLLM_KEYS: frozenset[str] = frozenset({"revision", "local_files_only", "cache_dir", "precision", "max_length",
                                       "prefix_cache", "seed", "top_logprobs", *VLLM_ONLY_KEYS})
"""What ``backend: vllm`` honours: ``LLM(revision, download_dir=cache_dir, dtype=precision, max_model_len=max_length,
enable_prefix_caching=prefix_cache, seed, tensor_parallel_size, gpu_memory_utilization)`` (``local_files_only``:
``HF_HUB_OFFLINE=1``) and ``SamplingParams(seed, logprobs=top_logprobs)``; any other loading or endpoint key is
an error."""
DEFAULT_BATCH: dict[str, int] = {"local": 8, "openai_compatible": 256, "vllm": 64}


class PromptedConfig(RemoteConfig):
    """Options of every prompted judge (YAML keys). Judges add their own (variant, templates, ...)."""

    backend: Backend = Field("local", description=(
        "local: transformers here | openai_compatible: a chat endpoint | vllm: vLLM's offline engine here"))
    batch_size: int = Field(8, gt=0, description=(
        "local: records per forward pass (default 8); openai_compatible: records per burst of requests (256); "
        "vllm: records per LLM.generate call (64)"))
    model_id: str = Field("", description=(
        "local: hub id or folder of the judge model; openai_compatible: the model name the server serves"))
    request: Literal["behavior", "prompt"] = Field("behavior", description=(
        "what the response is judged against: the record's behaviour (the goal in plain words) or its attack "
        "prompt (JailbreakBench's own pipeline fills {goal} with the submitted prompt)"))
    scoring: Scoring = Field("auto", description=(
        "probability: P(answer labels) from the next-token distribution (one forward pass / logprobs); parse: "
        "generate and read the text (a label-type judge then sets a verdict); auto: probability where the "
        "answer is one token and (endpoint) the server returns logprobs, else parse"))
    max_new_tokens: int = Field(16, gt=0, le=8192, description="generation budget when the answer is parsed")
    merge_system: bool = Field(False, description=(
        "put the system prompt at the top of the user message (chat templates with no system role, e.g. Gemma)"))
    templates: dict[str, TemplateSource] = Field(default_factory=dict, description=(
        "override a prompt slot with text or {file: path}; the slots are the judge's (see docs)"))
    clip_tokens: int | None = Field(None, gt=0, description=(
        "pass the response through the judge tokenizer, keeping this many tokens (the judge's published clipping)"))
    # -- local ---------------------------------------------------------------------------------------
    revision: str | None = Field(None, description="branch, tag or commit of the checkpoint (pin it)")
    local_files_only: bool = Field(False, description="never touch the network; load from the cache/folder only")
    cache_dir: str | None = Field(None, description="Hugging Face cache folder")
    device_map: str | dict[str, Any] | None = Field(None, description="e.g. auto, cuda:0; unset: one device")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field("auto", description="auto: bf16 on CUDA, fp32 on CPU")
    quantization: QuantizationConfig = Field(QUANTIZATION_OFF, description=(
        "bitsandbytes: true / false / auto or {bits, quant_type, use_double_quant, compute_dtype} (CUDA + lam3[quant])"))
    attn_implementation: AttnImplementation | None = Field(None, description="eager | sdpa | flash_attention_2")
    max_length: int = Field(4096, gt=0, description="longest judge prompt in tokens; longer gets a per-record error")
    prefix_cache: bool = Field(True, description=(
        "probability scoring: compute the prompt start every record of a forward batch shares (the published "
        "template's fixed text) once and reuse its KV cache; the same probabilities up to float rounding"))
    # -- openai_compatible ---------------------------------------------------------------------------
    base_url: str | None = Field(None, description="e.g. http://localhost:8000/v1 (vllm serve), https://api.openai.com/v1")
    api_key_env: str | None = Field("OPENAI_API_KEY", description=(
        "environment variable holding the key (never the key itself); null for a server without keys"))
    top_logprobs: int = Field(20, ge=1, le=20, description="next-token candidates asked for when reading probabilities")
    seed: int | None = Field(0, description="sent with every request where the server supports it; null: not sent")
    expect_served_model: str | None = Field(None, description=(
        "stop the run when the server reports another model than this (null: record whatever it reports)"))
    clip_tokenizer: str | None = Field(None, description=(
        "tokenizer (hub id or folder) that clips responses when clip_tokens is set: the judge model's own"))
    # -- vllm ----------------------------------------------------------------------------------------
    tensor_parallel_size: int = Field(1, ge=1, description="vllm: GPUs the engine splits the model over")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="vllm: share of GPU memory the engine takes")

    @model_validator(mode="before")
    @classmethod
    def _backend_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and "batch_size" not in data:
            data = {**data, "batch_size": DEFAULT_BATCH.get(data.get("backend", "local"), 8)}
        return data

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value)

    @model_validator(mode="after")
    def _keys_of_one_backend(self) -> PromptedConfig:
        given = self.model_fields_set
        if self.backend != "vllm" and given & VLLM_ONLY_KEYS:
            raise ValueError(f"{', '.join(sorted(given & VLLM_ONLY_KEYS))} only apply to backend: vllm")
        if self.backend == "vllm":
            stray = sorted((given & (LOCAL_KEYS | ENDPOINT_KEYS)) - VLLM_KEYS)
            if stray:
                raise ValueError(f"{', '.join(stray)} do not apply to backend: vllm (it honours "
                                 f"{', '.join(sorted(VLLM_KEYS))})")
        elif self.backend == "local":
            stray = sorted(given & ENDPOINT_KEYS)
            if stray:
                raise ValueError(f"{', '.join(stray)} only apply to backend: openai_compatible")
            if self.prefix_cache and "prefix_cache" in given and self.scoring == "parse":
                raise ValueError("prefix_cache applies to the one forward pass of probability scoring, not to "
                                 "scoring: parse (generation)")
        else:
            allowed = CLIP_TOKENIZER_KEYS if self.clip_tokenizer else frozenset()
            stray = sorted((given & LOCAL_KEYS) - allowed)
            if stray:
                hint = (" (with clip_tokenizer, revision / local_files_only / cache_dir load that tokenizer)"
                        if set(stray) & CLIP_TOKENIZER_KEYS else "")
                raise ValueError(f"{', '.join(stray)} only apply to backend: local{hint}")
            if self.base_url is None:
                raise ValueError("backend: openai_compatible needs base_url (e.g. http://localhost:8000/v1)")
            if self.clip_tokenizer and self.clip_tokens is None:
                raise ValueError("clip_tokenizer is set but clip_tokens is null (nothing to clip)")
            if self.clip_tokens is not None and not self.clip_tokenizer:
                raise ValueError(f"clip_tokens: {self.clip_tokens} clips the response with the judge model's "
                                 "tokenizer, which an endpoint does not lend: name it (clip_tokenizer: a hub id or "
                                 "folder), or set clip_tokens: null to judge unclipped responses (recorded)")
        return self
