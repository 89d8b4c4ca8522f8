"""Judges (providers), their registry and the dual metrics built from them."""

from lam3.metrics.base import Provider, ProviderConfig, ScoreInput
from lam3.metrics.registry import build, get, providers, register

__all__ = ["Provider", "ProviderConfig", "ScoreInput", "build", "get", "providers", "register"]
