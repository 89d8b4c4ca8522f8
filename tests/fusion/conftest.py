"""Fusion test set-up: registers the test-only judges (see fusion_helpers)."""

from __future__ import annotations

import fusion_helpers  # noqa: F401  - registers fusion_tox, fusion_guard, … with the judge registry
