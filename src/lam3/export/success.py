"""Whether an attack succeeded on one fused response, as the peers' labels mean it.

HarmBench's ``label`` and JailbreakBench's ``jailbroken`` both say "the response does what the
behaviour asked": LAM3's ``jailbreak_success`` metric (``fused.jailbreak_success.flagged``).
A run fused without that metric falls back, per response and counted, to the judge-flagged policy
risk definition of :mod:`lam3.fusion.asr` (the one JailbreakBench and JailBreakV use); the export
records how many responses fell back. ``--success`` picks another definition outright.
"""

from __future__ import annotations

from dataclasses import dataclass

from lam3.errors import UserError
from lam3.fusion.asr import DEFINITIONS, attack_succeeded, metric_of
from lam3.records import FusedResult, MetricResult

JAILBREAK_SUCCESS = "jailbreak_success"
FALLBACK = "policy_risk"
CHOICES: tuple[str, ...] = (JAILBREAK_SUCCESS, *(d for d in DEFINITIONS if d != JAILBREAK_SUCCESS))


def metric_absent(result: MetricResult) -> bool:
    """No judge was configured for the metric: the empty result fusion writes for it (or a file lacks)."""
    return result.flagged is None and not result.votes and not result.missing


@dataclass
class Success:
    """Decides success per fused record under ``definition`` and counts fallbacks and unjudged responses."""

    definition: str = JAILBREAK_SUCCESS
    fallbacks: int = 0
    unjudged: int = 0

    def __post_init__(self) -> None:
        if self.definition not in CHOICES:
            raise UserError(f"unknown success definition {self.definition!r} (one of: {', '.join(CHOICES)})",
                            field="--success")

    def __call__(self, fused: FusedResult | None) -> bool | None:
        """True/False, or None when the response was not judged (no fused record, or no usable judge)."""
        if fused is None:
            verdict = None
        elif self.definition == JAILBREAK_SUCCESS and metric_absent(fused.jailbreak_success):
            self.fallbacks += 1
            verdict = attack_succeeded(fused, FALLBACK)
        else:
            verdict = attack_succeeded(fused, metric_of(self.definition))
        if verdict is None:
            self.unjudged += 1
        return verdict

    def describe(self) -> str:
        if self.definition == JAILBREAK_SUCCESS and self.fallbacks:
            return f"{JAILBREAK_SUCCESS} (absent for {self.fallbacks} responses: {FALLBACK} used for those)"
        return self.definition

    def warnings(self) -> list[str]:
        out = []
        if self.fallbacks:
            out.append(f"{self.fallbacks} responses have no {JAILBREAK_SUCCESS} metric (fuse with a jailbreak-"
                       f"success judge to get it): their success is the judge-flagged {FALLBACK} instead")
        if self.unjudged:
            out.append(f"{self.unjudged} responses have no usable verdict: exported as not successful "
                       "(HarmBench label -1, JailbreakBench jailbroken false)")
        return out
