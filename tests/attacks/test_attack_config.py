"""Attack configs: contradictory or unknown settings are errors naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from lam3.attacks.config import AttackConfig, ObjectiveConfig, PGDConfig
from lam3.attacks.run import load_attack_config
from lam3.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["attack_xattn_llava.yaml", "attack_xattn_idefics2.yaml"])
def test_shipped_configs_validate(name: str) -> None:
    config = load_attack_config(REPO / "configs" / name)
    assert config.objective.terms and config.objective.attention_weight != 0
    assert (REPO / config.targets).is_file()


@pytest.mark.parametrize("fields, message", [
    (dict(attention_weight=0.5), "no attention terms"),
    (dict(terms=[{"surface": "lm"}]), "attention_weight is 0"),
    (dict(attention_weight=1, terms=[{"surface": "lm"}], schedule="linear_warmup"), "needs warmup_steps"),
    (dict(attention_weight=1, terms=[{"surface": "lm"}], warmup_steps=10), "schedule is constant"),
    (dict(attention_weight=1, terms=[{"surface": "perceiver", "queries": "target"}]), "queries only apply"),
    (dict(attention_weight=1, terms=[{"surface": "lm"}, {"surface": "lm"}]), "one term per surface"),
    (dict(attention_weight=1, terms=[{"surface": "lm", "layers": []}]), "at least one"),
])
def test_objective_contradictions(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ObjectiveConfig.model_validate(fields)


@pytest.mark.parametrize("fields, message", [
    (dict(epsilon=8.5), "not a whole number"),
    (dict(step_size=0.5), "not a whole number"),
    (dict(epsilon=4, step_size=8), "exceeds epsilon"),
    (dict(epsilon=0), "greater than 0"),
])
def test_pgd_contradictions(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PGDConfig.model_validate(fields)


def test_fractional_steps_allowed_without_quantisation() -> None:
    assert PGDConfig(epsilon=8.5, step_size=0.5, quantize=False).step_size == 0.5


def test_warmup_schedule() -> None:
    obj = ObjectiveConfig(attention_weight=2.0, terms=[{"surface": "lm"}], schedule="linear_warmup",
                          warmup_steps=4)
    assert [obj.weight_at(s) for s in range(6)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert ObjectiveConfig(attention_weight=2.0, terms=[{"surface": "lm"}]).weight_at(0) == 2.0


def test_unknown_key_names_file_line_field(tmp_path: Path) -> None:
    text = (REPO / "configs" / "attack_xattn_llava.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("  step_size: 1 ", "  step_sise: 1 "))
    with pytest.raises(ConfigError) as err:
        load_attack_config(bad)
    line = next(i for i, ln in enumerate(bad.read_text().splitlines(), 1) if "step_sise" in ln)
    assert f"bad.yaml:{line}: pgd.step_sise: unknown key" in str(err.value)


def test_cli_overrides_are_validated(tmp_path: Path) -> None:
    config = load_attack_config(REPO / "configs" / "attack_xattn_llava.yaml", output_dir=tmp_path, steps=7, seed=3)
    assert (config.pgd.steps, config.seed, config.output_dir) == (7, 3, tmp_path)
    assert config.settings_hash() != load_attack_config(REPO / "configs" / "attack_xattn_llava.yaml").settings_hash()
    # the output dir and checkpoint cadence may change between a run and its resume
    moved = AttackConfig.model_validate({**config.model_dump(exclude_unset=True), "output_dir": "elsewhere", "checkpoint_every": 3})
    assert moved.settings_hash() == config.settings_hash()
