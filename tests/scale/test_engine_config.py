"""The engine options of a score config: validated with their line, never silently ignored, never a resume setting."""

from __future__ import annotations

import pytest
import yaml
from scale_helpers import REPO, RESPONSES, write_config
from typer.testing import CliRunner

import lam3.cli  # noqa: F401  (attaches the commands)
from lam3.cli.app import app
from lam3.config import config_hash
from lam3.errors import ConfigError
from lam3.pipeline.engines.ray_score import check_pools
from lam3.pipeline.score import ray_judges, read_score_config, score_file


def test_the_settings_a_resume_must_match_are_unchanged_by_the_engine_options(tmp_path):
    plain = write_config(tmp_path / "plain.yaml", [{"judge": "refusal"}])
    tuned = write_config(tmp_path / "tuned.yaml", [{"judge": "refusal", "ray": {"actors": 2}}], engine="ray",
                         ray={"num_cpus": 2})
    a, b = read_score_config(plain), read_score_config(tuned)
    assert set(a.model_dump()) == {"id_field", "text_field", "prompt_field", "images_field", "behavior_field",
                                   "context_field", "batch_size", "judges"}  # what it was before engines existed
    assert a.model_dump() == b.model_dump() and config_hash(a) == config_hash(b)


def test_the_shipped_ray_config_validates_without_loading_anything():
    path = REPO / "configs" / "score_ray.yaml"
    config = read_score_config(path)
    pools = ray_judges(config, path)
    assert config.engine == "ray" and [p.key for p in pools] == ["llama_guard", "harmbench_classifier", "refusal"]
    assert pools[0].actor.actors == 2 and pools[0].actor.num_gpus == 0.5 and pools[1].actor.num_gpus == 1
    check_pools(pools)


def test_a_remote_judge_gets_one_actor(tmp_path):
    config = write_config(tmp_path / "score.yaml", [{
        "judge": "harmbench_classifier", "backend": "openai_compatible", "base_url": "http://127.0.0.1:9/v1",
        "model_id": "judge", "api_key_env": None, "clip_tokens": None, "ray": {"actors": 2}}])
    with pytest.raises(ConfigError, match=r"judges\[0\]\.ray\.actors: judge 'harmbench_classifier' is behind an API "
                                          r"quota that its process enforces; 2 actors would send 2× the quota"):
        score_file(RESPONSES, config, tmp_path / "out.jsonl", engine="ray")


@pytest.mark.parametrize(("top", "message"), [
    ({"engine": "ray", "lookahead": 4}, r"lookahead only apply to engine: local"),
    ({"ray": {"address": "10.0.0.1:6379", "num_cpus": 4}}, r"ray: Value error, num_cpus only size a local cluster"),
    ({"ray": {"address": "ray://head:10001"}}, r"Ray Client \(ray://\) is not supported"),
])
def test_engine_options_that_cannot_take_effect_are_errors(tmp_path, top, message):
    config = write_config(tmp_path / "score.yaml", [{"judge": "refusal"}], **top)
    with pytest.raises(ConfigError, match=message):
        score_file(RESPONSES, config, tmp_path / "out.jsonl")


def test_a_pool_option_typo_names_its_line(tmp_path):
    config = write_config(tmp_path / "score.yaml", [{"judge": "refusal", "ray": {"actor": 2}}])
    with pytest.raises(ConfigError, match=r"score\.yaml:\d+: judges\[0\]\.ray\.actor: unknown key"):
        score_file(RESPONSES, config, tmp_path / "out.jsonl")


def test_the_cli_says_which_ray_options_a_local_run_did_not_use(tmp_path):
    config = write_config(tmp_path / "score.yaml", [{"judge": "refusal", "ray": {"actors": 2}}])
    result = CliRunner().invoke(app, ["score", str(RESPONSES), "-c", str(config), "-o", str(tmp_path / "o.jsonl")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "engine local: judges[0].ray only apply to --engine ray (not used by this run)" in result.output
    bad = CliRunner().invoke(app, ["score", str(RESPONSES), "-c", str(config), "-o", str(tmp_path / "p.jsonl"),
                                   "--engine", "spark"])
    assert bad.exit_code != 0 and isinstance(bad.exception, ConfigError)
    assert "engine: Input should be 'local' or 'ray'" in str(bad.exception)
    assert yaml.safe_load(config.read_text())["judges"][0]["ray"] == {"actors": 2}


@pytest.mark.parametrize(("top", "batches"), [
    ({"batch_size": 32}, 16), ({"batch_size": 100}, 6), ({"batch_size": 256}, 2), ({"batch_size": 1000}, 2),
    ({"batch_size": 32, "lookahead": 3}, 3), ({"batch_size": 32, "lookahead": 0}, 0),
])
def test_the_lookahead_defaults_to_512_records_and_the_summary_says_what_ran(tmp_path, top, batches):
    """Small write batches get more batches of look-ahead (two judges of about the same speed otherwise wait
    on each other); a given lookahead is used as it is."""
    config = write_config(tmp_path / "score.yaml", [{"judge": "refusal"}, {"judge": "keyword_risk"}], **top)
    summary = score_file(RESPONSES, config, tmp_path / "out.jsonl")
    assert summary.engine == {"engine": "local", "concurrent_judges": True, "lookahead": batches}
    assert read_score_config(config).lookahead_batches == batches
