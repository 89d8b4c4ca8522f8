"""``detoxify``: the Detoxify (Unitary) toxicity models, loaded safely and run batched.

The checkpoint (``{"config": ..., "state_dict": ...}``) is read with
``torch.load(weights_only=True)`` — Detoxify's own loader unpickles arbitrary objects — and
the model is built through the transformers classes it names, as Detoxify does, but from
local files when ``huggingface_config_path`` is given (Detoxify still asks the hub then).
Placement and precision are :class:`lam3.hf.DeviceOptions` (``device_map``, ``precision``),
the same words and the same ``from_pretrained`` keywords as every other local model; the
inference loop is :func:`lam3.judges.hf_classifier.classify`.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from lam3 import hf
from lam3.errors import ConfigError, UserError
from lam3.judges.base import JudgeConfig
from lam3.judges.hf_classifier import ClassifierJudge, SequenceClassifier, max_tokens
from lam3.judges.registry import register
from lam3.taxonomy import DETOXIFY_TO_SOCIAL

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


class DetoxifyConfig(hf.DeviceOptions, JudgeConfig):
    """``{judge: detoxify, variant: original, checkpoint: PATH, huggingface_config_path: DIR, device_map: ...}``."""

    precision: hf.Precision = Field("fp32", description="weights dtype (fp32, as Detoxify's own predict); "
                                                        "auto = bf16 on CUDA, fp32 on CPU")
    variant: Literal["original", "unbiased", "multilingual"] = Field(
        "original", description="which Detoxify model; with a checkpoint, its labels must be this variant's")
    checkpoint: str | None = Field(None, description="local Detoxify .ckpt (default: download the variant's)")
    huggingface_config_path: str | None = Field(
        None, description="local folder with the base model's config.json and tokenizer files (fully offline)")
    max_length: int | None = Field(None, ge=2, description="truncate texts to this many tokens "
                                   "(default: the model's own limit; larger than that is an error)")

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
class DetoxifyJudge(ClassifierJudge):
    """Detoxify toxicity models; scores keep Detoxify's label names (fusion maps them with DETOXIFY_TO_SOCIAL)."""

    metric = "social_toxicity"
    description = ("Detoxify toxicity classifier (original / unbiased / multilingual), run locally. Downloads "
                   "the checkpoint and base config unless `checkpoint` and `huggingface_config_path` point at "
                   "local files; then fully offline.")
    Config = DetoxifyConfig
    needs = ("torch", "transformers", "detoxify")
    label_maps = {"social_toxicity": DETOXIFY_TO_SOCIAL}
    config: DetoxifyConfig

    def runs_offline(self) -> bool:
        return self.config.checkpoint is not None and self.config.huggingface_config_path is not None

    @property
    def labels(self) -> list[str]:
        if self.loaded is not None:
            return list(self.classifier.labels)
        return list(DETOXIFY_LABELS[self.config.variant])

    def identity(self) -> dict[str, Any]:
        return {"variant": self.config.variant, "checkpoint": self._checkpoint_name()}

    def load_weights(self) -> dict[str, Any]:
        import transformers

        c = self.config
        hf.check_device(c)
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
                              field="variant")
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
        placement = hf.device_kwargs(c)
        try:
            config = model_class.config_class.from_pretrained(source, num_labels=num_classes, local_files_only=local)
            model, info = model_class.from_pretrained(None, config=config, state_dict=checkpoint["state_dict"],
                                                      output_loading_info=True, **placement)
            tokenizer = tokenizer_class.from_pretrained(source, local_files_only=local)
        except OSError as exc:
            hint = "" if local else " (offline? set huggingface_config_path to a local copy)"
            raise UserError(f"cannot load base model config/tokenizer from {source!r}{hint}: {exc}") from None
        if info["missing_keys"]:
            some = ", ".join(sorted(info["missing_keys"])[:3])
            raise UserError(f"{self._source}: weights do not fit {model_name} ({len(info['missing_keys'])} "
                            f"missing, e.g. {some}); the checkpoint and base config disagree")
        self.model, self.tokenizer = model.eval(), tokenizer
        self.classifier = SequenceClassifier(model, tokenizer, labels, max_tokens(tokenizer, model.config,
                                                                                  c.max_length))
        return {"variant": c.variant, "checkpoint": self._checkpoint_name(), "device_map": c.device_map,
                "device": str(hf.input_device(model)), "precision": c.precision,
                "dtype": str(model.dtype).replace("torch.", ""), "transformers": transformers.__version__}

    def _checkpoint_name(self) -> str:
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
