"""Judges: the interface, the registry and one module per judge. Judges do I/O; fusion does arithmetic."""

from lam3.judges.base import Judge, JudgeConfig, ScoreInput
from lam3.judges.registry import all_judges, build, get, register

__all__ = ["Judge", "JudgeConfig", "ScoreInput", "all_judges", "build", "get", "register"]
