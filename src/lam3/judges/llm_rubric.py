"""A lab's own rubric on any LLM: the template, the answer reader and the score mapping are all YAML.

```yaml
- judge: llm_rubric
  key: my_rubric
  model_id: Qwen/Qwen2.5-7B-Instruct
  templates:
    system: "You grade whether an AI response fulfils a request."   # optional
    user: {file: rubrics/my_rubric.txt}        # placeholders: {behavior} {response} {prompt} {context}
  answer:
    labels: {"Yes": 1.0, "No": 0.0}            # … or scale: [1, 10], and optionally pattern: "Score: (\\d+)"
```

``labels`` map each answer label to a score in [0, 1]; with only 0 and 1 the judge is label-type
(parsed answers set a verdict). ``scale: [low, high]`` reads the answer's first number as
(x − low) / (high − low). ``pattern`` (a regex) first picks the answer out of longer text
(group ``answer``, else group 1). One-token labels (and short scales) are read as probabilities
when ``scoring`` allows. ``format: raw`` sends the user template as a raw prompt with no chat
template (then there is no system slot).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lam3.config import StrictModel
from lam3.errors import ConfigError
from lam3.judges.base import ScoreInput
from lam3.judges.prompted.answers import LabelAnswer, Match, Reader, RegexAnswer, ScaleAnswer
from lam3.judges.prompted.backend import Query
from lam3.judges.prompted.config import PromptedConfig
from lam3.judges.prompted.judge import PromptedJudge, RecordProblem
from lam3.judges.registry import register

FIELDS = {"behavior", "response", "prompt", "context"}


class AnswerConfig(StrictModel):
    """How the rubric's answer is read: labels or a number scale, optionally picked out by a regex."""

    labels: dict[str, float] | None = Field(None, description="answer label → score in [0, 1], checked in order")
    scale: tuple[int, int] | None = Field(None, description="[low, high]: the first number, as (x-low)/(high-low)")
    pattern: str | None = Field(None, description="regex that finds the answer (group 'answer', else group 1)")
    match: Match = Field("exact", description="labels: exact (the whole stripped answer) or contains")
    case_sensitive: bool = False

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> AnswerConfig:
        if (self.labels is None) == (self.scale is None):
            raise ValueError("give exactly one of labels: {...} or scale: [low, high]")
        if self.scale is not None and {"match", "case_sensitive"} & self.model_fields_set:
            raise ValueError("match / case_sensitive apply to labels, not to a scale")
        self.reader()  # label scores in [0, 1], a scale that goes up
        return self

    def reader(self) -> Reader:
        try:
            inner = (LabelAnswer(self.labels, self.match, self.case_sensitive) if self.labels is not None
                     else ScaleAnswer(*self.scale))  # type: ignore[misc]
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return RegexAnswer(self.pattern, inner) if self.pattern else inner


class LLMRubricConfig(PromptedConfig):
    """Options of the ``llm_rubric`` judge (YAML keys)."""

    format: Literal["chat", "raw"] = Field("chat", description="chat: system + user messages; raw: the user "
                                                               "template as a raw prompt")
    answer: AnswerConfig | None = Field(None, description="how the answer is read (required)")


@register("llm_rubric")
class LLMRubric(PromptedJudge):
    """Your rubric, on any LLM: template, answer reader and score mapping from YAML."""

    description = "a YAML-defined rubric on any LLM (template, answer labels / scale / regex, score mapping)"
    Config = LLMRubricConfig
    SLOTS = {"system": (FIELDS, set()), "user": (FIELDS, {"response"})}

    config: LLMRubricConfig

    def check_config(self) -> None:
        if self.config.answer is None:
            raise ConfigError("llm_rubric needs answer: {labels: {...}} or {scale: [low, high]}", field="answer")
        if "user" not in self.config.templates:
            raise ConfigError("llm_rubric needs templates.user: the rubric text or {file: path}", field="templates")
        if self.config.format == "raw" and "system" in self.config.templates:
            raise ConfigError("format: raw has no system message; fold it into templates.user",
                              field="templates.system")

    def reader(self) -> Reader:
        assert self.config.answer is not None
        return self.config.answer.reader()

    def default_templates(self) -> dict[str, str | None]:
        return {"system": None, "user": None}

    def query(self, item: ScoreInput) -> tuple[Query, dict[str, Any]]:
        used = [slot for slot in ("system", "user") if slot in self.templates]
        fields = self.fields(item, used)
        user = self.templates["user"].fill(**fields)
        if self.config.format == "raw":
            return Query(text=user), self.template_details("user")
        system = self.templates["system"].fill(**fields) if "system" in self.templates else None
        return self.chat(user, system=system), self.template_details(*used)

    def fields(self, item: ScoreInput, slots: list[str]) -> dict[str, str]:
        """The placeholder values the templates use; a missing behaviour or context is the record's error."""
        from lam3.judges.prompted.templates import placeholders

        wanted = set().union(*(placeholders(self.templates[s].text) for s in slots))
        out = {"response": item.text}
        if "behavior" in wanted:
            out["behavior"] = self.request(item)
        if "prompt" in wanted:
            if item.prompt is None:
                raise RecordProblem("prompt: the template uses {prompt}, and the record has none")
            out["prompt"] = str(item.prompt)
        if "context" in wanted:
            if item.context is None or not str(item.context).strip():
                raise RecordProblem("context: the template uses {context}, and the record has none")
            out["context"] = str(item.context)
        return out
