"""Adversarial-image attacks on the MLLM wrappers: PGD on the pixels + a cross-attention objective.

``lam3 attack --config configs/attack_xattn_llava.yaml`` runs :func:`lam3.attacks.run.run_attack`;
the image it writes is evaluated with ``lam3 generate --attack-image ... --attack-name ...``
(see docs/attacks.md). Heavy libraries are imported inside functions.
"""

from __future__ import annotations

from lam3.attacks.config import AttackConfig, AttentionTerm, ObjectiveConfig, PGDConfig

__all__ = ["AttackConfig", "AttentionTerm", "ObjectiveConfig", "PGDConfig"]
