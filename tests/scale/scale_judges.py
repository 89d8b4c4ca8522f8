"""A judge for the engine tests: deterministic scores, an event log, and a way to die mid-batch.

``scale_probe`` scores each text by a hash (so an output can be compared line for line), can
sleep per batch (so a run can be killed part-way), appends ``start``/``end`` events with the
process id and the batch's ids to a JSONL log (so a test can see which process judged what, and
that a batch really was started twice), and, once, dies in the middle of the batch that holds
``die_on`` — by ``ray.kill`` on its own actor, or by waiting for the test to SIGKILL its process —
or raises on every batch that holds ``raise_on``.

It registers itself when imported; the Ray tests put this folder on the workers' PYTHONPATH so
actors unpickle it by reference, as they would a third-party judge installed on the cluster.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from lam3.judges.base import Judge, JudgeConfig, ScoreInput
from lam3.judges.registry import register
from lam3.records import Judgement


class ProbeConfig(JudgeConfig):
    sleep_s: float = Field(0.0, ge=0)
    log: str | None = None
    die_on: str | None = Field(None, description="record id: die once in the middle of the batch holding it")
    die_by: Literal["ray_kill", "wait_for_sigkill"] = "ray_kill"
    marker: str | None = Field(None, description="file created when the judge is about to die (once)")
    fail_load: bool = False
    raise_on: str | None = Field(None, description="record id: score() raises on any batch holding it")


@register("scale_probe")
class ScaleProbe(Judge):
    metric = "policy_risk"
    Config = ProbeConfig
    config: ProbeConfig

    @property
    def labels(self) -> list[str]:
        return ["probe"]

    def load(self) -> object:
        if self.config.fail_load:
            raise RuntimeError("the probe checkpoint is missing (fail_load: true)")
        return None

    def _event(self, kind: str, batch: Sequence[ScoreInput]) -> None:
        if self.config.log:
            with open(self.config.log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"event": kind, "pid": os.getpid(), "t": time.time(),
                                    "ids": [i.id for i in batch]}) + "\n")
                f.flush()

    def score(self, batch: Sequence[ScoreInput]) -> list[Judgement]:
        self._event("start", batch)
        if self.config.raise_on and any(i.id == self.config.raise_on for i in batch):
            raise RuntimeError(f"probe refuses the batch holding {self.config.raise_on}")
        if self.config.die_on and self.config.marker and any(i.id == self.config.die_on for i in batch):
            marker = Path(self.config.marker)
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                if self.config.die_by == "ray_kill":
                    import ray

                    ray.kill(ray.get_runtime_context().current_actor, no_restart=False)
                time.sleep(120)  # killed before this returns
        time.sleep(self.config.sleep_s)
        out = [self.judgement({"probe": int(hashlib.sha256(i.text.encode()).hexdigest()[:6], 16) / 16**6},
                              details={"chars": len(i.text)}) for i in batch]
        self._event("end", batch)
        return out
