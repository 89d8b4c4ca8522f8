import pytest

from lam3.errors import ConfigError, UserError
from lam3.metrics import registry
from lam3.metrics.base import Provider, ProviderConfig


class EchoConfig(ProviderConfig):
    factor: float = 1.0


@registry.register("_test_echo")
class Echo(Provider):
    family = "social_toxicity"
    Config = EchoConfig

    @property
    def labels(self):
        return ["toxicity"]

    def score(self, batch):
        return [self.judgement({"toxicity": min(1.0, len(x.text) / 10 * self.config.factor)}) for x in batch]


def test_register_and_get():
    assert registry.get("_test_echo") is Echo
    assert "_test_echo" in registry.providers()


def test_unknown_name_suggests_closest():
    with pytest.raises(UserError, match=r"unknown provider '_test_ecko' \(did you mean '_test_echo'\?\)"):
        registry.get("_test_ecko")


def test_double_registration_of_a_name_is_refused():
    with pytest.raises(RuntimeError):
        registry.register("_test_echo")(type("Other", (Echo,), {}))


def test_build_validates_options_with_location(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("providers:\n  - provider: _test_echo\n    factr: 2\n")
    from lam3.config import read_yaml

    _, node = read_yaml(p)
    with pytest.raises(ConfigError) as exc:
        registry.build({"provider": "_test_echo", "factr": 2}, path=p, node=node, loc=("providers", 0))
    assert str(exc.value) == f"{p}:3: providers[0].factr: unknown key"
    judge = registry.build({"provider": "_test_echo", "factor": 2, "threshold": 0.3})
    [j] = judge.score([__import__("lam3.metrics.base", fromlist=["ScoreInput"]).ScoreInput(id="1", text="abc")])
    assert j.scores["toxicity"] == pytest.approx(0.6) and j.flagged == ["toxicity"]


def test_judgement_helper_clips_and_flags_by_threshold():
    judge = Echo(EchoConfig(threshold=0.9))
    j = judge.judgement({"toxicity": 0.95, "insult": -0.2})
    assert j.scores == {"toxicity": 0.95, "insult": 0.0} and j.flagged == ["toxicity"]
    assert j.provider == "_test_echo" and j.family == "social_toxicity"
