"""One registry: judge name (as written in YAML) → judge class.

Built-in judges register themselves with :func:`register` when their module
is imported; modules are imported lazily on first lookup so ``lam3 --help``
never loads torch. Third-party judges plug in through the ``lam3.judges``
entry-point group.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml
from pydantic import ValidationError

from lam3.config import dotted, line_of, validation_error
from lam3.errors import ConfigError, UserError
from lam3.judges.base import Judge

P = TypeVar("P", bound=type[Judge])

BUILTIN: dict[str, str] = {
    "profanity_check": "lam3.judges.profanity",
    "keyword_risk": "lam3.judges.keyword_risk",
    "refusal": "lam3.judges.refusal",
    "not_refused": "lam3.judges.not_refused",
    "detoxify": "lam3.judges.detoxify",
    "refusal_learned": "lam3.judges.learned",
    "success_learned": "lam3.judges.learned",
    "hf_classifier": "lam3.judges.hf_classifier",
    "perspective": "lam3.judges.perspective",
    "openai_moderation": "lam3.judges.openai_moderation",
    "llama_guard": "lam3.judges.llama_guard",
    "llama_guard_3": "lam3.judges.llama_guard",
    "llama_guard_3_vision": "lam3.judges.llama_guard",
    "llama_guard_prompted": "lam3.judges.llama_guard_prompted",
    "llama_guard_3_prompted": "lam3.judges.llama_guard_prompted",
    "zero_shot_risk": "lam3.judges.zero_shot",
    "harmbench_classifier": "lam3.judges.harmbench",
    "strongreject": "lam3.judges.strongreject",
    "jailbreakbench": "lam3.judges.jailbreakbench",
    "jailbreakbench_refusal": "lam3.judges.jailbreakbench",
    "llm_rubric": "lam3.judges.llm_rubric",
}
"""Built-in judge name → the module that registers it: a lookup imports only the module it needs."""
MERGED: dict[str, str] = {
    "hf_text_classification": "use judge: hf_classifier (same model and loop; metric: social_toxicity is its "
                              "default, label_map maps the model's labels; `model:` is now `model_id:`)",
    "safety_classifier": "use judge: hf_classifier with metric: policy_risk and your label_map "
                         "(`model:` is now `model_id:`); in the ensemble config give it metrics: [policy_risk]",
}
"""Wave-1 judge names that were merged into another judge: an error with the way over, never a silent alias."""

_REGISTRY: dict[str, type[Judge]] = {}
_loaded = False


def register(name: str) -> Callable[[P], P]:
    """Class decorator: make a judge available under ``name``."""

    def deco(cls: P) -> P:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise RuntimeError(f"judge name {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in dict.fromkeys(BUILTIN.values()):
        importlib.import_module(module)
    for ep in entry_points(group="lam3.judges"):
        register(ep.name)(ep.load())


def all_judges() -> dict[str, type[Judge]]:
    """All registered judges, by name."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> type[Judge]:
    """The class registered under ``name``; an unknown name is a UserError that suggests the closest.

    A built-in name imports its own module only (``lam3 score`` with one cheap judge does not import
    numpy or an HTTP client); any other name loads every judge and plugin first.
    """
    if name in BUILTIN:
        importlib.import_module(BUILTIN[name])
        if name in _REGISTRY:
            return _REGISTRY[name]
    _load_all()
    if name in MERGED and name not in _REGISTRY:
        raise UserError(f"judge {name!r} was merged into 'hf_classifier': {MERGED[name]}")
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(_REGISTRY))})"
        raise UserError(f"unknown judge {name!r}{hint}") from None


def resolve(spec: dict[str, Any], *, path: str | Path | None = None, node: yaml.Node | None = None,
            loc: tuple[Any, ...] = ()) -> tuple[type[Judge], Any]:
    """The judge class and its validated options for one YAML entry, without building the judge.

    What :func:`build` checks before it loads anything (a name, availability, the options); the
    Ray engine calls it in the driver so a config error names its line before any actor starts.
    """
    options = {k: v for k, v in spec.items() if k not in ("judge", "key")}
    where = {"path": path, "line": line_of(node, loc + ("judge",)), "field": dotted(loc + ("judge",))}
    try:
        cls = get(spec["judge"])
    except UserError as exc:
        raise ConfigError(str(exc), **where) from None
    ok, why = cls.availability()
    if not ok:
        raise ConfigError(f"judge {cls.name!r} is not usable here: {why}", **where)
    try:
        return cls, cls.Config.model_validate(options)
    except ValidationError as exc:
        raise validation_error(exc, path, node, prefix=loc) from None


def build(spec: dict[str, Any], *, path: str | Path | None = None, node: yaml.Node | None = None,
          loc: tuple[Any, ...] = ()) -> Judge:
    """Instantiate a judge from one YAML entry ``{judge: NAME, key: ..., **options}``.

    ``loc`` is where the entry sits in its file (e.g. ``("judges", 0)``) so errors name it.
    """
    cls, config = resolve(spec, path=path, node=node, loc=loc)
    try:
        return cls(config)
    except UserError as exc:  # e.g. a missing API key or checkpoint: say which config entry needs it
        if exc.path is not None or path is None:
            raise
        inner = loc + (exc.field,) if exc.field else loc + ("judge",)
        raise type(exc)(exc.message, path=path, line=line_of(node, inner), field=dotted(inner)) from None
