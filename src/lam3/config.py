"""YAML → pydantic configs, with one error format for all of them.

Every config model uses ``extra="forbid"`` so a typo'd key is an error, and
every error names the file, the line in that file and the dotted field path:
``configs/x.yaml:7: judges[0].batch_size: Input should be greater than 0``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from lam3.errors import ConfigError, UserError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def dotted(loc: tuple[Any, ...]) -> str:
    """Render a pydantic error location as ``a.b[0].c``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Follow ``loc`` through the composed YAML tree; return the 1-based line of the deepest node found."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if nxt is None:  # an unknown key: point at the key itself
                key = next((k for k, _ in node.value if getattr(k, "value", None) == str(part)), None)
                return key.start_mark.line + 1 if key is not None else line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def read_yaml(path: str | Path) -> tuple[Any, yaml.Node | None]:
    """Parse a YAML file; return (data, composed node tree) or raise ConfigError naming the file/line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file not found", path=path)
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", path=path,
                          line=mark.line + 1 if mark else None) from None


def validation_error(exc: ValidationError, path: str | Path | None, node: yaml.Node | None = None,
                     prefix: tuple[Any, ...] = ()) -> ConfigError:
    """Turn the first pydantic error into a one-line ConfigError (the rest are counted)."""
    err = exc.errors()[0]
    loc = prefix + tuple(err["loc"])
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    msg = err["msg"] if err["type"] != "extra_forbidden" else "unknown key"
    return ConfigError(msg + more, path=path, line=line_of(node, loc), field=dotted(loc) or None)


def load_config(path: str | Path, model: type[M], overrides: dict[str, Any] | None = None) -> M:
    """Load ``path`` into ``model``; ``overrides`` (e.g. from CLI flags) win over the file (a dict: over
    those keys of the file's block)."""
    data, node = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("top level must be a mapping", path=path, line=1)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(data.get(key), dict):  # a flag sets one key of a block
            value = {**data[key], **value}
        data[key] = value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, path, node) from None


def load_json_model(path: str | Path, model: type[M], *, marker: str, what: str, missing: str = "") -> M:
    """A JSON file LAM3 wrote (a calibration, a judge card) as ``model``; errors name file, line and field.

    ``marker`` is the version key every such file starts with; ``missing`` ends the not-found message.
    JSON is YAML, so its composed node tree gives the line of a bad field.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found{missing}", path=path)
    text = path.read_text(encoding="utf-8")
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(data, dict) or marker not in data:
        raise UserError(f"not a LAM3 {what} (no {marker})", path=path, line=1)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, path, yaml.compose(text)) from None


def config_hash(config: BaseModel | dict[str, Any]) -> str:
    """sha256 of the resolved config in canonical JSON: two runs with equal hashes used equal settings."""
    data = config.model_dump(mode="json") if isinstance(config, BaseModel) else config
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()
