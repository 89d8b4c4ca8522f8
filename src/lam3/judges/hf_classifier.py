"""Local social-toxicity judges: Detoxify checkpoints and Hugging Face text classifiers.

Both judges share one inference loop (:func:`_classify`): the whole batch is
tokenised in one call, ordered by token length so each forward pass pads
little, run in sub-batches of ``batch_size`` under ``torch.inference_mode``,
passed through a sigmoid (multi-label: every label scored), and put back in
input order. They differ only in how the model is loaded:

* ``detoxify`` reads a Detoxify checkpoint (``{"config": ..., "state_dict": ...}``)
  itself with ``torch.load(weights_only=True)`` - Detoxify's own loader unpickles
  arbitrary objects - and builds the model through the transformers classes the
  checkpoint names, exactly as Detoxify does, but from local files when
  ``huggingface_config_path`` is given (Detoxify still asks the hub then).
* ``hf_text_classification`` loads any sequence-classification model with
  ``AutoModelForSequenceClassification.from_pretrained`` (``revision``,
  ``local_files_only``, ``cache_dir`` reach that call) and reads its labels from
  the model's ``id2label``. It replaces the per-text ``pipeline`` calls that
  made the seed slow.

Models load lazily on the first ``score`` call (or :meth:`load`) and stay
cached on the instance; torch and transformers are imported only then.
"""

from __future__ import annotations

import json
import re
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from lam3 import hf
from lam3.errors import ConfigError, DependencyError, UserError
from lam3.judges.base import Judge, JudgeConfig, ScoreInput, Stopwatch
from lam3.judges.registry import register
from lam3.taxonomy import DETOXIFY_TO_SOCIAL, TOXIC_BERT_TO_SOCIAL
from lam3.records import Judgement

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

# Detoxify renames the Jigsaw-2018 class names of its "original" checkpoint so every
# variant reports the same names (detoxify.detoxify.load_checkpoint does the same).
DETOXIFY_RENAMES: dict[str, str] = {
    "toxic": "toxicity", "severe_toxic": "severe_toxicity", "identity_hate": "identity_attack",
}
DETOXIFY_LABELS: dict[str, tuple[str, ...]] = {
    "original": ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"),
    "unbiased": ("toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat",
                 "sexual_explicit"),
    "multilingual": ("toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat",
                     "sexual_explicit"),
}
DEFAULT_HF_MODEL = "unitary/toxic-bert"
# Labels of the default hub model, so ``lam3 judges`` can list them before any download.
KNOWN_HF_LABELS: dict[str, tuple[str, ...]] = {DEFAULT_HF_MODEL: tuple(TOXIC_BERT_TO_SOCIAL)}

# Models whose position ids start after the padding index (RoBERTa family): usable positions
# are max_position_embeddings - (pad_token_id + 1).
_OFFSET_POSITION_MODELS = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text",
                                     "xmod", "longformer"})


def _device_field(value: str) -> str:
    if not _DEVICE.match(value):
        raise ValueError("device must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N'")
    return value


class LocalClassifierConfig(JudgeConfig):
    """Options shared by the local judges."""

    device: str = Field("auto", description="'auto' (GPU if present), 'cpu', 'cuda', 'cuda:N' or 'mps'")
    max_length: int | None = Field(None, ge=2, description="truncate texts to this many tokens "
                                   "(default: the model's own limit; larger than that is an error)")

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        return _device_field(value)


@dataclass
class LoadedClassifier:
    """A ready model: what the shared inference loop needs."""

    model: Any
    tokenizer: Any
    labels: list[str]
    max_tokens: int
    device: str
    info: dict[str, Any] = field(default_factory=dict)
    """model identity written into every judgement's details (model, revision or checkpoint)."""


class _LocalClassifier(Judge):
    """Shared lazy loading and batched inference for the local judges."""

    metric = "social_toxicity"
    version = "1"
    offline = False
    batches_internally = True  # sorts the whole stage batch by length, then runs batch_size chunks
    Config: ClassVar[type[JudgeConfig]] = LocalClassifierConfig
    needs: ClassVar[tuple[str, ...]] = ("torch", "transformers")
    """modules ``availability`` looks for (find_spec only: nothing heavy is imported)."""

    def __init__(self, config: JudgeConfig | None = None) -> None:
        super().__init__(config)
        self._loaded: LoadedClassifier | None = None
        self._load_error: Exception | None = None
        self.offline = self._runs_offline()  # per instance: a local checkpoint needs no download

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return hf.modules_available(*cls.needs)

    def _runs_offline(self) -> bool:
        return False

    @property
    def activation(self) -> str:
        """sigmoid: multi-label, each label scored on its own (both Detoxify and toxic-bert)."""
        return "sigmoid"

    @abstractmethod
    def _load(self) -> LoadedClassifier:
        """Load model and tokenizer (imports torch/transformers)."""

    def load(self) -> LoadedClassifier:
        """Load once and cache; a load failure is cached too, so a broken config fails fast on every batch."""
        if self._loaded is None:
            if self._load_error is not None:
                raise self._load_error
            try:
                self._loaded = self._load()
            except Exception as exc:
                self._load_error = exc
                raise
        return self._loaded

    def close(self) -> None:
        self._loaded = None

    def score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        if not batch:
            return []
        loaded = self.load()
        with Stopwatch() as sw:
            probs, tokens, truncated = _classify(loaded, [item.text for item in batch],
                                                 self.config.batch_size, self.activation)
        share = sw.ms / len(batch)  # batched inference: each record gets its share of the batch time
        out = []
        for row, n, cut in zip(probs, tokens, truncated):
            out.append(self.judgement(dict(zip(loaded.labels, row)), latency_ms=share,
                                      details={"tokens": n, "truncated": cut, **loaded.info}))
        return out


def _classify(loaded: LoadedClassifier, texts: list[str], batch_size: int,
              activation: str = "sigmoid") -> tuple[list[list[float]], list[int], list[bool]]:
    """Scores per text (input order), tokens kept per text, and whether each text was truncated."""
    import torch

    tok = loaded.tokenizer
    enc = tok(texts, truncation=True, max_length=loaded.max_tokens)  # one call: the Rust tokenizer batches
    lengths = [len(x) for x in enc["input_ids"]]
    truncated = _truncated(tok, texts, enc, loaded.max_tokens)
    fills = _pad_values(tok, enc)
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])  # longest first: an OOM shows at once
    n_labels = len(loaded.labels)
    results: list[list[float]] = [[] for _ in texts]
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            width = lengths[idx[0]]
            # right padding: with absolute position embeddings, left padding would shift every position
            features = {key: torch.tensor([enc[key][i] + [fill] * (width - lengths[i]) for i in idx],
                                          device=loaded.device)
                        for key, fill in fills.items()}
            logits = loaded.model(**features).logits[:, :n_labels].float()
            probs = torch.sigmoid(logits) if activation == "sigmoid" else torch.softmax(logits, dim=-1)
            for i, row in zip(idx, probs.cpu().tolist()):
                results[i] = row
    return results, lengths, truncated


def _pad_values(tok: Any, enc: Any) -> dict[str, int]:
    """What each model input is padded with (what ``tokenizer.pad`` uses, without its per-row Python cost)."""
    fills = {"input_ids": tok.pad_token_id if tok.pad_token_id is not None else 0, "attention_mask": 0,
             "token_type_ids": getattr(tok, "pad_token_type_id", 0)}
    return {key: fill for key, fill in fills.items() if key in enc}


def _truncated(tok: Any, texts: list[str], enc: Any, max_tokens: int) -> list[bool]:
    """Which texts lost tokens to truncation (fast tokenizers record the overflow; others are re-counted)."""
    encodings = getattr(enc, "encodings", None)
    if encodings:
        return [len(e.overflowing) > 0 for e in encodings]
    full = tok(texts, add_special_tokens=True, truncation=False)["input_ids"]
    return [len(x) > max_tokens for x in full]


def _max_tokens(tokenizer: Any, model_config: Any, requested: int | None, who: str) -> int:
    """The model's usable length (tokenizer limit and position table), or ``requested`` if it fits."""
    limits = []
    if 0 < getattr(tokenizer, "model_max_length", 0) < 1_000_000:
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(model_config, "max_position_embeddings", None)
    if positions:
        if getattr(model_config, "model_type", "") in _OFFSET_POSITION_MODELS:
            positions -= (getattr(model_config, "pad_token_id", None) or 0) + 1
        limits.append(int(positions))
    if not limits:
        limits.append(512)
    limit = min(limits)
    if requested is None:
        return limit
    if requested > limit:
        raise ConfigError(f"max_length {requested} exceeds the model's limit of {limit} tokens",
                          field=f"{who}.max_length")
    return requested


def _resolve_device(device: str, who: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if hf.cuda_available() else "cpu"
    if device.startswith("cuda") and not hf.cuda_available():
        raise DependencyError(f"{who}: device {device!r} requested but torch sees no CUDA GPU "
                              "(use device: cpu, or install a CUDA build of torch)")
    if device == "mps" and not torch.backends.mps.is_available():
        raise DependencyError(f"{who}: device 'mps' requested but it is not available here")
    return device


# -- Detoxify ----------------------------------------------------------------------------------


class DetoxifyConfig(LocalClassifierConfig):
    """``{judge: detoxify, variant: original, checkpoint: PATH, huggingface_config_path: DIR}``."""

    variant: Literal["original", "unbiased", "multilingual"] = Field(
        "original", description="which Detoxify model; with a checkpoint, its labels must be this variant's")
    checkpoint: str | None = Field(None, description="local Detoxify .ckpt (default: download the variant's)")
    huggingface_config_path: str | None = Field(
        None, description="local folder with the base model's config.json and tokenizer files (fully offline)")

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"checkpoint file not found: {value}")
        return value

    @field_validator("huggingface_config_path")
    @classmethod
    def _config_dir(cls, value: str | None) -> str | None:
        if value is not None and not (Path(value).expanduser() / "config.json").is_file():
            raise ValueError(f"no config.json in {value} (it should hold the base model's config and tokenizer)")
        return value


@register("detoxify")
class DetoxifyJudge(_LocalClassifier):
    """Detoxify (Unitary) toxicity models, loaded safely and run batched."""

    description = ("Detoxify toxicity classifier (original / unbiased / multilingual), run locally. Downloads "
                   "the checkpoint and base config unless `checkpoint` and `huggingface_config_path` point at "
                   "local files; then fully offline.")
    Config = DetoxifyConfig
    needs = ("torch", "transformers", "detoxify")
    label_maps = {"social_toxicity": DETOXIFY_TO_SOCIAL}
    config: DetoxifyConfig

    def _runs_offline(self) -> bool:
        return self.config.checkpoint is not None and self.config.huggingface_config_path is not None

    @property
    def labels(self) -> list[str]:
        if self._loaded is not None:
            return list(self._loaded.labels)
        return list(DETOXIFY_LABELS[self.config.variant])

    def _load(self) -> LoadedClassifier:
        import transformers

        c, who = self.config, self.name
        device = _resolve_device(c.device, who)
        checkpoint = self._read_checkpoint()
        try:
            classes = list(checkpoint["config"]["dataset"]["args"]["classes"])
            arch = dict(checkpoint["config"]["arch"]["args"])
            model_type, model_name = arch["model_type"], arch["model_name"]
            tokenizer_name, num_classes = arch["tokenizer_name"], int(arch["num_classes"])
        except (KeyError, TypeError) as exc:
            raise UserError(f"{self._source}: not a Detoxify checkpoint (no config.{exc})") from None
        labels = [DETOXIFY_RENAMES.get(name, name) for name in classes]
        if set(labels) != set(DETOXIFY_LABELS[c.variant]):
            raise ConfigError(f"checkpoint {self._source} scores {labels}, not the labels of variant "
                              f"{c.variant!r} {list(DETOXIFY_LABELS[c.variant])}; set variant to match it",
                              field=f"{who}.variant")
        if num_classes < len(labels):
            raise UserError(f"{self._source}: num_classes {num_classes} < {len(labels)} class names")
        model_class = getattr(transformers, model_name, None)
        if model_class is None or not model_name.endswith("ForSequenceClassification"):
            raise UserError(f"{self._source}: unsupported model class {model_name!r}")
        tokenizer_class = getattr(transformers, tokenizer_name, None) or transformers.AutoTokenizer
        # Detoxify reads the base config from model_type (a hub id) even when given a local
        # config folder; reading it from the folder is what makes the checkpoint work offline.
        source = c.huggingface_config_path or model_type
        local = c.huggingface_config_path is not None
        try:
            config = model_class.config_class.from_pretrained(source, num_labels=num_classes,
                                                              local_files_only=local)
            model, info = model_class.from_pretrained(None, config=config, state_dict=checkpoint["state_dict"],
                                                      output_loading_info=True)
            tokenizer = tokenizer_class.from_pretrained(source, local_files_only=local)
        except OSError as exc:
            hint = "" if local else " (offline? set huggingface_config_path to a local copy)"
            raise UserError(f"{who}: cannot load base model config/tokenizer from {source!r}{hint}: {exc}") from None
        if info["missing_keys"]:
            some = ", ".join(sorted(info["missing_keys"])[:3])
            raise UserError(f"{self._source}: weights do not fit {model_name} ({len(info['missing_keys'])} "
                            f"missing, e.g. {some}); the checkpoint and base config disagree")
        model.to(device).eval()
        return LoadedClassifier(model=model, tokenizer=tokenizer, labels=labels,
                                max_tokens=_max_tokens(tokenizer, model.config, c.max_length, who),
                                device=device,
                                info={"model": f"detoxify-{c.variant}", "checkpoint": self._ckpt_name()})

    def _ckpt_name(self) -> str:
        """The checkpoint's file name (release names carry a hash prefix), for provenance in details."""
        if self.config.checkpoint is not None:
            return Path(self.config.checkpoint).name
        from detoxify.detoxify import MODEL_URLS

        return MODEL_URLS[self.config.variant].rsplit("/", 1)[-1]

    @property
    def _source(self) -> str:
        return self.config.checkpoint or f"detoxify {self.config.variant} release"

    def _read_checkpoint(self) -> dict[str, Any]:
        """The checkpoint dict, unpickled with ``weights_only=True``: tensors and plain containers only."""
        import pickle

        import torch

        c = self.config
        try:
            if c.checkpoint is not None:
                loaded = torch.load(Path(c.checkpoint).expanduser(), map_location="cpu", weights_only=True)
            else:
                from detoxify.detoxify import MODEL_URLS

                # the release file names carry a sha256 prefix: check_hash verifies the download
                loaded = torch.hub.load_state_dict_from_url(MODEL_URLS[c.variant], map_location="cpu",
                                                            check_hash=True, weights_only=True)
        except pickle.UnpicklingError as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if "Unsupported global" in ln]
            why = re.sub(r"\x1b\[[0-9;]*m", "", lines[0]) if lines else type(exc).__name__
            raise UserError(f"{self._source}: refused to load: it holds objects other than tensors and plain "
                            f"containers, and unpickling those can run code ({why}). Re-save only its "
                            "'config' and 'state_dict' entries from a trusted copy.") from None
        if not isinstance(loaded, dict) or "config" not in loaded or "state_dict" not in loaded:
            raise UserError(f"{self._source}: a Detoxify checkpoint needs 'config' and 'state_dict' entries")
        return loaded


# -- Hugging Face text classification -----------------------------------------------------------


class HFTextClassificationConfig(LocalClassifierConfig):
    """``{judge: hf_text_classification, model: unitary/toxic-bert, revision: ..., local_files_only: true}``."""

    model: str = Field(DEFAULT_HF_MODEL, min_length=1, description="hub id or local folder")
    revision: str | None = Field(None, description="hub branch, tag or commit (hub ids only)")
    local_files_only: bool = Field(False, description="never download; use the local cache only")
    cache_dir: str | None = Field(None, description="hub cache folder (default: HF_HUB_CACHE)")
    activation: Literal["sigmoid", "softmax"] = Field(
        "sigmoid", description="sigmoid: multi-label, every label scored alone; softmax: one-of-N models")

    @model_validator(mode="after")
    def _revision_needs_hub_id(self) -> HFTextClassificationConfig:
        why = hf.local_revision_error(self.model, self.revision)
        if why is not None:
            raise ValueError(why)
        return self


@register("hf_text_classification")
class HFTextClassificationJudge(_LocalClassifier):
    """Any Hugging Face sequence-classification model, multi-label (default: unitary/toxic-bert)."""

    description = ("Hugging Face text classifier (default unitary/toxic-bert), run locally and batched. "
                   "Downloads the model unless `model` is a local folder or `local_files_only: true` "
                   "(then fully offline).")
    Config = HFTextClassificationConfig
    label_maps = {"social_toxicity": TOXIC_BERT_TO_SOCIAL}
    config: HFTextClassificationConfig

    @property
    def activation(self) -> str:
        return self.config.activation

    def _runs_offline(self) -> bool:
        return self.config.local_files_only or hf.is_local_dir(self.config.model)

    @property
    def labels(self) -> list[str]:
        if self._loaded is not None:
            return list(self._loaded.labels)
        config = self._cached_config_json()
        if config is not None and config.get("id2label"):
            id2label = config["id2label"]
            return [id2label[k] for k in sorted(id2label, key=int)]
        if self.config.model in KNOWN_HF_LABELS:
            return list(KNOWN_HF_LABELS[self.config.model])
        raise UserError(f"labels of {self.config.model!r} are known once it is downloaded")

    def _cached_config_json(self) -> dict[str, Any] | None:
        """config.json from a local folder or the hub cache, without network or transformers."""
        c = self.config
        path = hf.cached_file(c.model, "config.json", c.revision, c.cache_dir)
        return None if path is None else json.loads(path.read_text(encoding="utf-8"))

    def _snapshot_commit(self) -> str | None:
        """The commit of the cached snapshot a hub id resolved to (None for a local folder)."""
        c = self.config
        return hf.snapshot_commit(c.model, c.revision, c.cache_dir)

    def _load(self) -> LoadedClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        c, who = self.config, self.name
        device = _resolve_device(c.device, who)
        kw: dict[str, Any] = {"revision": c.revision or "main", "local_files_only": c.local_files_only,
                              "cache_dir": c.cache_dir}
        try:
            tokenizer = AutoTokenizer.from_pretrained(c.model, **kw)
            model = AutoModelForSequenceClassification.from_pretrained(c.model, **kw)
        except (OSError, ValueError) as exc:
            raise UserError(f"{who}: cannot load model {c.model!r} at revision {kw['revision']!r} "
                            f"(local_files_only={c.local_files_only}, cache_dir={c.cache_dir}): {exc}") from None
        id2label = model.config.id2label
        labels = [str(id2label[i]) for i in range(model.config.num_labels)]
        model.to(device).eval()
        info = {"model": c.model}
        commit = self._snapshot_commit()
        if commit:
            info["revision"] = commit  # the exact snapshot, whatever branch or tag was asked for
        return LoadedClassifier(model=model, tokenizer=tokenizer, labels=labels,
                                max_tokens=_max_tokens(tokenizer, model.config, c.max_length, who),
                                device=device, info=info)
