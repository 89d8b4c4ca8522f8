import pytest

from lam3.config import StrictModel, config_hash, load_config
from lam3.errors import ConfigError


class Inner(StrictModel):
    batch_size: int = 1


class Cfg(StrictModel):
    name: str
    items: list[Inner] = []


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_unknown_key_names_file_line_and_field(tmp_path):
    p = write(tmp_path, "name: x\nitems:\n  - batch_size: 2\n  - batch_sise: 3\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p, Cfg)
    assert str(exc.value) == f"{p}:4: items[1].batch_sise: unknown key"


def test_wrong_type_names_line(tmp_path):
    p = write(tmp_path, "name: x\nitems:\n  - batch_size: lots\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3: items\[0\].batch_size: Input should be a valid integer"):
        load_config(p, Cfg)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml", Cfg)
    p = write(tmp_path, "name: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(p, Cfg)


def test_overrides_win_and_hash_is_stable(tmp_path):
    p = write(tmp_path, "name: x\n")
    a = load_config(p, Cfg, {"name": "y"})
    assert a.name == "y"
    assert config_hash(a) == config_hash(Cfg(name="y")) != config_hash(Cfg(name="x"))
