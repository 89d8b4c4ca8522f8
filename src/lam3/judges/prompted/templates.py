"""The published judge prompts, shipped as package data, and the user's own templates.

Each published template is the exact string value of the variable named in
:data:`PUBLISHED` (escapes resolved, no trailing newline unless the source has one),
pinned by its sha256 here and byte for byte by the golden files in
``tests/judges/success/golden/``. Templates are filled with ``str.format``, as the
sources do, so a placeholder is ``{name}`` and a literal brace is written ``{{``.

A YAML override is either the template text itself or ``{file: path}`` (a UTF-8
file, read as is; relative paths start at the current directory). Its placeholders
are checked when the config is read: an unknown one is an error naming the slot.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag, model_validator

from lam3.config import StrictModel


@dataclass(frozen=True, slots=True)
class Published:
    """Where a shipped template comes from: repository, commit, file and variable, and its sha256."""

    file: str
    repository: str
    commit: str | None
    path: str
    variable: str
    sha256: str
    note: str = ""


HARMBENCH = ("centerforaisafety/HarmBench", "8e1604d1171fe8a48d8febecd22f600e462bdcdd")
JAILBREAKBENCH = ("JailbreakBench/jailbreakbench", "04f9f94844f09bd2168d3d83e5dd870cded9fc57")
STRONGREJECT = ("dsbowen/strong_reject", None)

PUBLISHED: dict[str, Published] = {
    "harmbench_llama2_standard": Published(
        "harmbench_llama2_standard.txt", *HARMBENCH, "eval_utils.py", 'LLAMA2_CLS_PROMPT["prompt"]',
        "788f4f6aa1491c433c4da76c9140cfc30966cea3ff3875c4d0fcb336d92f60e0",
        "the pipeline's version (evaluate_completions.py); the notebooks / model card show a shorter one"),
    "harmbench_llama2_contextual": Published(
        "harmbench_llama2_contextual.txt", *HARMBENCH, "eval_utils.py", 'LLAMA2_CLS_PROMPT["prompt_contextual"]',
        "5d6bb9e3cf4d1e5f3f7620093113222ee115af75b0b2913f00e4c7225ec9f219",
        "also the Llama-2 multimodal prompt: HarmBench fills {context} with RedactedImageDescription"),
    "harmbench_mistral_standard": Published(
        "harmbench_mistral_standard.txt", *HARMBENCH, "notebooks/run_classifier_val_set.ipynb",
        'MISTRAL_CLS_PROMPT["prompt"]', "c1c47e30cc03e00197f1d12be25296fc3150969bb3ddb058bfd9f550e0d66f81"),
    "harmbench_mistral_contextual": Published(
        "harmbench_mistral_contextual.txt", *HARMBENCH, "notebooks/run_classifier_val_set.ipynb",
        'MISTRAL_CLS_PROMPT["prompt_contextual"]', "df32d8fa50fe36817f2fb4ee38aa3c36a3b2726c71e30769ae26ea8a8104f16f"),
    "harmbench_mistral_multimodal": Published(
        "harmbench_mistral_multimodal.txt", *HARMBENCH, "notebooks/run_classifier_val_set.ipynb",
        'MISTRAL_CLS_PROMPT["prompt_multimodal"]', "c8282c8d24e34f2939ca3c374362511ea22a14e1209a2213226eaf6547e5e224"),
    "strongreject_rubric_system": Published(
        "strongreject_rubric_system.txt", *STRONGREJECT, "strong_reject/eval_files/judge_templates.json",
        'JUDGE_TEMPLATES["strongreject_rubric_system"]',
        "7919b6d41af2dc9f32797d96eaa952934dca0713c7f3f63ddc6c299db9857248",
        "text from three third-party copies that agree byte for byte (no upstream commit could be read)"),
    "strongreject_rubric_user": Published(
        "strongreject_rubric_user.txt", *STRONGREJECT, "strong_reject/eval_files/judge_templates.json",
        'JUDGE_TEMPLATES["strongreject_rubric"]', "0a282b857e1e53ff6ec92c91eb960d2444806e2e4518f4a40232549b599963d0",
        "text from three third-party copies that agree byte for byte (no upstream commit could be read)"),
    "strongreject_finetuned": Published(
        "strongreject_finetuned.txt", *STRONGREJECT, "strong_reject/eval_files/judge_templates.json",
        'JUDGE_TEMPLATES["strongreject_finetuned"]', "d90102b02d66b34a3dbf7d82789ce92310965503a481dc725232626bd7700937",
        'ends with "### Answer: " (a trailing space); text from three agreeing third-party copies'),
    "jailbreakbench_jailbreak": Published(
        "jailbreakbench_jailbreak.txt", *JAILBREAKBENCH, "src/jailbreakbench/classifier.py",
        "Llama3JailbreakJudge.USER_PROMPT", "2bdc0b4d11a5b7e8c06528c44f2d04e01084c156e0e040380a5e2ca1a1055aa1",
        "identical in the PyPI wheel jailbreakbench==1.0.0"),
    "jailbreakbench_refusal": Published(
        "jailbreakbench_refusal.txt", *JAILBREAKBENCH, "src/jailbreakbench/classifier.py",
        "Llama3RefusalJudge.USER_PROMPT", "bf25d2f426a3b61ad5358b3992120c8540bb739969789e24254160b4897f8562",
        "identical in the PyPI wheel jailbreakbench==1.0.0"),
}


def published_text(name: str) -> str:
    """The shipped template ``name``, read as UTF-8 bytes exactly (no newline translation)."""
    data = resources.files("lam3.judges.prompted").joinpath("prompts", PUBLISHED[name].file).read_bytes()
    return data.decode("utf-8")


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a ``str.format`` template (ValueError for a stray single brace)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TemplateFile(StrictModel):
    """A template kept in a file: ``{file: path}``."""

    file: str = Field(min_length=1, description="UTF-8 text file; relative paths start at the current directory")
    text: str = Field("", exclude=True, description="filled from the file when the config is read")

    @model_validator(mode="after")
    def _read(self) -> TemplateFile:
        try:
            self.text = Path(self.file).expanduser().read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read template file {self.file!r}: {exc}") from None
        return self


TemplateSource = Annotated[
    Annotated[str, Tag("text")] | Annotated[TemplateFile, Tag("file")],
    Discriminator(lambda value: "text" if isinstance(value, str) else "file"),
]
"""What YAML may give for a template slot: the text, or ``{file: path}``."""


@dataclass(frozen=True, slots=True)
class Template:
    """A template ready to fill, with where it came from (recorded in every judgement's details)."""

    slot: str
    text: str
    source: str

    def fill(self, **fields: Any) -> str:
        return self.text.format(**fields)

    def describe(self) -> dict[str, str]:
        return {"source": self.source, "sha256": sha256(self.text)}


def resolve(slot: str, override: TemplateSource | None, default: str | None) -> Template:
    """The template for ``slot``: the YAML override when given, else the published ``default``."""
    if isinstance(override, TemplateFile):
        return Template(slot, override.text, f"file:{override.file}")
    if isinstance(override, str):
        return Template(slot, override, "yaml")
    if default is None:
        raise ValueError(f"no template for {slot!r}: give one under templates.{slot}")
    return Template(slot, published_text(default), f"published:{default}")


def check_fields(slot: str, text: str, allowed: set[str], required: set[str]) -> None:
    """Placeholders of a template must be among ``allowed`` and include ``required`` (ValueError otherwise)."""
    try:
        found = placeholders(text)
    except ValueError as exc:
        raise ValueError(f"templates.{slot}: {exc} (write a literal brace as '{{{{' or '}}}}')") from None
    unknown = sorted(found - allowed)
    if unknown:
        raise ValueError(f"templates.{slot}: unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)}; "
                         f"this slot takes {', '.join('{' + a + '}' for a in sorted(allowed))}")
    missing = sorted(required - found)
    if missing:
        raise ValueError(f"templates.{slot}: missing placeholder(s) {', '.join('{' + m + '}' for m in missing)}")
