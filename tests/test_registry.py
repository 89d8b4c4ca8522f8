import subprocess
import sys

import pytest

from lam3.errors import ConfigError, UserError
from lam3.judges import registry
from lam3.judges.base import Judge, JudgeConfig


class EchoConfig(JudgeConfig):
    factor: float = 1.0


@registry.register("_test_echo")
class Echo(Judge):
    metric = "social_toxicity"
    Config = EchoConfig

    @property
    def labels(self):
        return ["toxicity"]

    def score(self, batch):
        return [self.judgement({"toxicity": min(1.0, len(x.text) / 10 * self.config.factor)}) for x in batch]


def test_register_and_get():
    assert registry.get("_test_echo") is Echo
    assert "_test_echo" in registry.all_judges()


def test_the_builtin_table_names_every_builtin_judge_and_its_module():
    builtin = {name: cls.__module__ for name, cls in registry.all_judges().items() if cls.__module__.startswith("lam3.")}
    assert builtin == registry.BUILTIN


def test_a_builtin_lookup_imports_only_its_own_module():
    code = ("import sys; from lam3.judges import registry; registry.get('keyword_risk'); "
            "print(sorted(m for m in sys.modules if m.startswith('lam3.judges.') or m == 'numpy'))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "'lam3.judges.keyword_risk'" in loaded
    assert "numpy" not in loaded and "lam3.judges.learned" not in loaded and "lam3.judges.remote" not in loaded


def test_unknown_name_suggests_closest():
    with pytest.raises(UserError, match=r"unknown judge '_test_ecko' \(did you mean '_test_echo'\?\)"):
        registry.get("_test_ecko")


def test_double_registration_of_a_name_is_refused():
    with pytest.raises(RuntimeError):
        registry.register("_test_echo")(type("Other", (Echo,), {}))


def test_build_validates_options_with_location(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("judges:\n  - judge: _test_echo\n    factr: 2\n")
    from lam3.config import read_yaml

    _, node = read_yaml(p)
    with pytest.raises(ConfigError) as exc:
        registry.build({"judge": "_test_echo", "factr": 2}, path=p, node=node, loc=("judges", 0))
    assert str(exc.value) == f"{p}:3: judges[0].factr: unknown key"
    judge = registry.build({"judge": "_test_echo", "factor": 2})
    [j] = judge.score([__import__("lam3.judges.base", fromlist=["ScoreInput"]).ScoreInput(id="1", text="abc")])
    assert j.scores["toxicity"] == pytest.approx(0.6) and j.verdict is None


def test_a_threshold_on_a_judge_is_refused_at_its_line(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("judges:\n  - judge: _test_echo\n    threshold: 0.3\n")
    from lam3.config import read_yaml

    _, node = read_yaml(p)
    with pytest.raises(ConfigError) as exc:
        registry.build({"judge": "_test_echo", "threshold": 0.3}, path=p, node=node, loc=("judges", 0))
    assert str(exc.value).startswith(f"{p}:3: judges[0].threshold: Value error, thresholds live in the ensemble")


def test_judgement_helper_clips_and_carries_no_verdict_unless_given():
    judge = Echo(EchoConfig())
    j = judge.judgement({"toxicity": 0.95, "insult": -0.2})
    assert j.scores == {"toxicity": 0.95, "insult": 0.0} and j.verdict is None
    assert judge.judgement({"toxicity": 0.1}, verdict={"social_toxicity": True}).verdict == {"social_toxicity": True}
    assert j.judge == "_test_echo" and j.metric == "social_toxicity"
