"""Reports: the Markdown daily log and the self-contained HTML report.

Both are Jinja2 templates in ``templates/`` filled from run directories. The HTML
environment autoescapes everything (model outputs are untrusted text); the
Markdown one escapes table-breaking characters with the ``md`` filter.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"
METRIC_TITLES: dict[str, str] = {"social_toxicity": "Social Toxicity", "policy_risk": "Policy Risk",
                                 "refusal": "Refusal", "jailbreak_success": "Jailbreak Success"}
"""How each metric of :data:`lam3.records.METRICS` is titled in tables and figures."""


def _md(value: Any) -> str:
    """One Markdown table cell / list item: no pipes, no newlines, no raw HTML tags."""
    text = "" if value is None else str(value)
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
            .replace("<", "&lt;").replace(">", "&gt;"))


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * float(value):.1f}%"


def _num(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def render_template(name: str, *, markdown: bool = False, **context: Any) -> str:
    """Render ``templates/name``; HTML templates autoescape, Markdown ones use the ``md`` filter."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=not markdown,
                      undefined=StrictUndefined, keep_trailing_newline=True)
    env.filters.update(md=_md, pct=_pct, num=_num)
    return env.get_template(name).render(**context)
