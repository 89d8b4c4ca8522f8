"""The base of the judges that run a local transformers model (Llama Guard, zero-shot, HF classifier, Detoxify).

What they share is the life cycle, not the inference: weights are loaded once through
:mod:`lam3.hf` when the judge is built to score (so a missing checkpoint, extra or GPU fails
before any record is read, with the config file and line), and not at all when it is built
without a config (``lam3 judges`` listing labels), so listing never imports torch.
"""

from __future__ import annotations

import gc
from abc import abstractmethod
from typing import Any, ClassVar

from lam3 import hf
from lam3.judges.base import Judge, JudgeConfig


class LocalJudge(Judge):
    """A judge over local weights: ``load()`` once, ``self.loaded`` is the JSON-safe load record."""

    offline = False  # needs model weights (a local folder or local_files_only works on an offline server)
    needs: ClassVar[tuple[str, ...]] = ("torch", "transformers")
    """modules ``availability`` looks for (find_spec only: nothing heavy is imported)."""

    def __init__(self, config: JudgeConfig | None = None) -> None:
        super().__init__(config)
        self.loaded: dict[str, Any] | None = None
        self.offline = self.runs_offline()
        if config is not None:
            self.load()

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        return hf.modules_available(*cls.needs)

    def runs_offline(self) -> bool:
        """Whether this configuration needs no download (an HF judge: a local folder or local_files_only)."""
        options = self.config
        return isinstance(options, hf.HFOptions) and options.offline

    def load(self) -> dict[str, Any]:
        """Load the weights now (once); return what was loaded."""
        if self.loaded is None:
            self.loaded = self.load_weights()
        return self.loaded

    @abstractmethod
    def load_weights(self) -> dict[str, Any]:
        """Load model and tokenizer onto ``self`` (imports torch/transformers); return the load record."""

    def identity(self) -> dict[str, Any]:
        """Which checkpoint judged: written into every judgement's details (the snapshot commit when known)."""
        record = self.loaded or {}
        revision = record.get("commit") or record.get("revision")
        return {"model_id": record.get("model_id"), **({"revision": revision} if revision else {})}

    def close(self) -> None:
        self.loaded = None
        for name in ("model", "processor", "tokenizer"):
            if hasattr(self, name):
                setattr(self, name, None)
        gc.collect()
