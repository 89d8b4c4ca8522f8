"""Importers of human-labelled judge-evaluation sets (files the user downloaded) for ``lam3 validate``.

Each turns a published layout into LAM3 responses that carry ``labels`` (the human majority per
label field of :data:`lam3.fusion.labels.LABEL_FIELDS`: ``refusal`` / ``success`` / ``risky`` /
``toxic``, as the set defines them) and ``annotators`` (each rater's label, in rater order). They
read through the shared CSV/JSON base of :mod:`lam3.bench.importers.base`; one small module per
format over :mod:`lam3.bench.evalsets.labelled`. The layouts are in docs/validity.md.

These sets are EVALUATION splits: LAM3 reports on them and never fits, tunes or trains on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lam3.bench.importers import format_class

if TYPE_CHECKING:
    from lam3.bench.evalsets.labelled import EvalSet

FORMATS: dict[str, str] = {
    "harmbench_val": "lam3.bench.evalsets.harmbench_val:HarmBenchVal",
    "jbb_judges": "lam3.bench.evalsets.jbb_judges:JBBJudgeComparison",
    "xstest_completions": "lam3.bench.evalsets.xstest_completions:XSTestCompletions",
    "pyrit_refusal": "lam3.bench.evalsets.pyrit:PyRITRefusal",
    "pyrit_objective": "lam3.bench.evalsets.pyrit:PyRITObjective",
    "generic": "lam3.bench.evalsets.generic:Generic",
}
"""Format name (``--set FORMAT:PATH``) → ``module:EvalSet class``."""


def get_evalset(name: str) -> type[EvalSet]:
    return format_class(FORMATS, name, "judge-evaluation set format", "--set")
