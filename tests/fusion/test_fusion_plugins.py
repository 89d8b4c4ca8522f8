"""A strategy and a reducer from a third-party package, found through its entry points and used by `lam3 fuse`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from fusion_helpers import read_jsonl, response, score, write_yaml

HERE = Path(__file__).resolve().parent
PLUGIN = '''
from lam3.fusion import reducer, strategy


@strategy("unanimous", combines="votes")
def unanimous(ballots, reduce):
    """Flag only when every judge flags."""
    return 1.0 if all(b.vote for b in ballots) else 0.0


@reducer("least")
def least(values, weights):
    return min(values)
'''
ENTRY_POINTS = """
[lam3.strategies]
unanimous = lab_fusion:unanimous

[lam3.reducers]
least = lab_fusion:least
"""


def _install_plugin(site: Path) -> None:
    """What `pip install lab-fusion` leaves in site-packages: the module and its dist-info with entry points."""
    site.mkdir()
    (site / "lab_fusion.py").write_text(PLUGIN)
    info = site / "lab_fusion-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-fusion\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)


def _fuse(args: list[str], site: Path | None) -> subprocess.CompletedProcess[str]:
    """`lam3 fuse` in a fresh process that knows the fusion test judges (and the plugin, when installed)."""
    driver = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(HERE)!r})
        import fusion_helpers  # the test judges the scored files name
        from lam3.cli import main
        sys.argv = ["lam3", "fuse", *{args!r}]
        main()
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site) if site else "",
                                                                      os.environ.get("PYTHONPATH", "")]))}
    return subprocess.run([sys.executable, "-c", driver], capture_output=True, text=True, env=env, timeout=120)


def test_a_plugin_strategy_and_reducer_are_picked_up_and_used(tmp_path: Path) -> None:
    records = [response("both", {"guard": {"scores": {"S8": 0.9}}, "kw": {"scores": {"weapons": 0.7}}}),
               response("one", {"guard": {"scores": {"S8": 0.9}}, "kw": {"scores": {"weapons": 0.2}}})]
    scored = score(tmp_path, "pr", records, {"guard": "fusion_guard", "kw": "fusion_keywords"})
    config = write_yaml(tmp_path / "e.yaml", """
        judges:
          guard: {judge: fusion_guard}
          kw: {judge: fusion_keywords}
        policy_risk:
          strategy: unanimous
          reducer: least
    """)
    out = tmp_path / "fused.jsonl"
    without = _fuse([str(scored), "-c", str(config), "-o", str(out)], site=None)
    assert without.returncode == 2
    assert f"{config}:5: policy_risk.strategy: Value error, unknown strategy 'unanimous' (known: merge, soft_vote, vote)" \
        in without.stderr.replace("\n", "")
    site = tmp_path / "site"
    _install_plugin(site)
    proc = _fuse([str(scored), "-c", str(config), "-o", str(out)], site=site)
    assert proc.returncode == 0, proc.stderr
    fused = {r["id"]: r["policy_risk"] for r in read_jsonl(out)}
    # 'vote' would flag both (1 of 2 votes meets the 0.5 threshold); 'unanimous' flags only when both agree
    assert fused["both"]["flagged"] is True and fused["both"]["resolution"] == "unanimous"
    assert fused["one"]["flagged"] is False and fused["one"]["votes"] == {"guard": True, "kw": False}
    assert fused["one"]["categories"] == {"S8": 0.2}  # the plugin reducer merged the category: min(0.9, 0.2)
