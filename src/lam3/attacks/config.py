"""``configs/attack_*.yaml``: the settings of ``lam3 attack`` (YAML → pydantic; unknown keys are errors).

Every field reaches the attack; settings that contradict each other are validation errors rather
than silent no-ops (a ``warmup_steps`` with a constant schedule, an attention weight with no
attention term, a sub-1/255 step on a quantised image, ...). Pixel quantities (``epsilon``,
``step_size``) are in units of 1/255, as in the papers (ε = 16/255 is ``epsilon: 16``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lam3.config import StrictModel, config_hash
from lam3.models.config import ModelConfig

Schedule = Literal["constant", "linear_warmup"]
Queries = Literal["target", "prompt", "text"]


class AttentionTerm(StrictModel):
    """One attention surface the objective rewards (its mean attention mass onto the image)."""

    surface: Literal["lm", "perceiver"] = Field(
        description="lm: the language model's attention from text positions onto the image tokens (LLaVA, "
                    "IDEFICS2); perceiver: IDEFICS2's resampler latents attending to the image patches")
    weight: float = Field(1.0, gt=0.0, description="relative weight of this term inside the attention objective")
    layers: list[int] | Literal["all"] = Field("all", description="layer indices (negative counts from the end)")
    heads: list[int] | Literal["all"] = Field("all", description="head indices, averaged")
    queries: Queries | None = Field(
        None, description="lm only: whose attention is measured — target (positions that predict the target "
                          "tokens; default), prompt (the prompt's text tokens), text (all non-image tokens)")

    @field_validator("layers", "heads")
    @classmethod
    def _non_empty(cls, value: Any) -> Any:
        if isinstance(value, list):
            if not value:
                raise ValueError("give at least one index, or 'all'")
            if len(set(value)) != len(value):
                raise ValueError("indices must not repeat")
        return value

    @model_validator(mode="after")
    def _queries_apply(self) -> AttentionTerm:
        if self.surface == "perceiver" and self.queries is not None:
            raise ValueError("queries only apply to surface 'lm' (perceiver queries are its latents)")
        return self

    @property
    def query_set(self) -> Queries:
        return self.queries or "target"


class ObjectiveConfig(StrictModel):
    """loss = target cross-entropy − λ(step) · Σ weight·attention mass."""

    attention_weight: float = Field(
        0.0, description="λ: 0 is a pure target-likelihood attack (Qi et al.); > 0 rewards attention onto the "
                         "image, < 0 penalises it")
    schedule: Schedule = Field("constant", description="constant λ, or linear_warmup from 0 to λ")
    warmup_steps: int | None = Field(None, gt=0, description="steps of the linear warm-up (linear_warmup only)")
    terms: list[AttentionTerm] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ObjectiveConfig:
        if self.attention_weight != 0 and not self.terms:
            raise ValueError("attention_weight is non-zero but no attention terms are given")
        if self.attention_weight == 0 and self.terms:
            raise ValueError("attention terms are given but attention_weight is 0 (they would be ignored)")
        if self.schedule == "linear_warmup" and self.warmup_steps is None:
            raise ValueError("schedule linear_warmup needs warmup_steps")
        if self.schedule == "constant" and self.warmup_steps is not None:
            raise ValueError("warmup_steps set but schedule is constant (it would be ignored)")
        surfaces = [t.surface for t in self.terms]
        if len(set(surfaces)) != len(surfaces):
            raise ValueError("one term per surface (merge their layers instead)")
        return self

    def weight_at(self, step: int) -> float:
        """λ at (0-based) ``step`` of a restart."""
        if self.schedule == "linear_warmup":
            return self.attention_weight * min(1.0, (step + 1) / float(self.warmup_steps or 1))
        return self.attention_weight


class PGDConfig(StrictModel):
    """Projected (sign-)gradient descent on the image, in pixel space [0, 1]."""

    epsilon: float | None = Field(16.0, gt=0.0, le=255.0,
                                  description="L∞ budget in 1/255 units around the clean image; null = unconstrained")
    step_size: float = Field(1.0, gt=0.0, description="per-step change in 1/255 units")
    steps: int = Field(5000, gt=0, description="steps per restart")
    restarts: int = Field(1, gt=0, description="independent runs; the one with the lowest target loss is kept")
    random_start: bool = Field(
        False, description="start restart 0 at a random point too (restarts > 0 always start at random: uniform "
                           "in the ε-ball, or uniform noise when unconstrained)")
    momentum: float = Field(0.0, ge=0.0, description="MI-FGSM decay μ; 0 = plain sign-gradient PGD")
    quantize: bool = Field(True, description="keep pixels on the 1/255 grid, so the saved PNG is exactly the "
                                             "optimised image")
    targets_per_step: int | None = Field(8, gt=0, description="targets sampled per step; null = the whole corpus")

    @model_validator(mode="after")
    def _consistent(self) -> PGDConfig:
        if self.quantize:
            for name in ("epsilon", "step_size"):
                value = getattr(self, name)
                if value is not None and float(value) != int(value):
                    raise ValueError(f"{name}={value} is not a whole number of 1/255 steps but quantize is true; "
                                     "use a whole number or set quantize: false")
        if self.epsilon is not None and self.step_size > self.epsilon:
            raise ValueError(f"step_size ({self.step_size}) exceeds epsilon ({self.epsilon})")
        return self


class AttackConfig(StrictModel):
    """``lam3 attack --config``: one adversarial image for one model."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                      description="attack name; pass it to `lam3 generate --attack-name`")
    model: ModelConfig
    targets: Path = Field(description="target corpus: one target sentence per line (# comments, blank lines ignored)")
    prompt: str = Field("", description="text the image is optimised under (Qi et al.: empty)")
    image: Path | None = Field(None, description="clean image; null = start from uniform noise")
    image_size: tuple[int, int] | None = Field(
        None, description="[height, width] to resize the clean image to (once, PIL bicubic) before the processor; "
                          "null = the processor's own resize. IDEFICS2 with image splitting needs crops that the "
                          "processor does not resample, e.g. [980, 980]")
    seed: int = Field(0, ge=0)
    pgd: PGDConfig = Field(default_factory=PGDConfig)
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    checkpoint_every: int = Field(100, gt=0, description="steps between checkpoints (also at each restart's end)")
    eval_batch_size: int = Field(8, gt=0, description="targets per forward when measuring the final loss")
    output_dir: Path = Field(description="where adv.png, adv.pt, checkpoint.pt, trace.jsonl and the manifest go")

    @field_validator("image_size")
    @classmethod
    def _positive(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and min(value) <= 0:
            raise ValueError("image_size must be positive [height, width]")
        return value

    def settings_hash(self) -> str:
        """What must not change between a run and its resume (checkpoint cadence and output dir may)."""
        data = self.model_dump(mode="json", exclude={"checkpoint_every", "output_dir", "eval_batch_size"})
        return config_hash(data)
