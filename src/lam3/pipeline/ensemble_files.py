"""Reading what fusion needs from files: the ensemble YAML, the judges' label tables, a calibration JSON.

:mod:`lam3.fusion` is arithmetic on records; this module turns files into its inputs and its
complaints into one-line errors naming file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lam3.config import dotted, line_of, load_config, load_json_model, read_yaml
from lam3.errors import ConfigError, UserError
from lam3.fusion.calibration import CalibrationFile
from lam3.fusion.config import EnsembleConfig
from lam3.fusion.ensemble import Ensemble, EnsembleError, JudgeInfo
from lam3.judges import registry


@dataclass
class LoadedEnsemble:
    """A compiled ensemble and where its parts came from (errors found later are located with these)."""

    ensemble: Ensemble
    config: EnsembleConfig
    path: Path
    node: yaml.Node | None
    calibration: Path | None
    reviews: Path | None
    judge_cards: list[Path] = field(default_factory=list)
    """the cards the YAML names (``judge_cards:``), relative to it"""

    def located(self, exc: EnsembleError) -> ConfigError:
        """The fusion error as ``file:line: field: message``."""
        return located(exc, self.path, self.node)


def located(exc: EnsembleError, path: str | Path, node: yaml.Node | None) -> ConfigError:
    return ConfigError(exc.message, path=path, line=line_of(node, exc.loc) if node is not None else None,
                       field=dotted(exc.loc) or None)


def resolve(path: str | None, base: Path) -> Path | None:
    """A file named in the YAML: relative paths are relative to the YAML file."""
    if path is None:
        return None
    p = Path(path)
    return p if p.is_absolute() else base / p


def judge_infos(config: EnsembleConfig, path: str | Path, node: yaml.Node | None) -> dict[str, JudgeInfo]:
    """The registry's metric and label tables of every judge the config names."""
    infos = {}
    for key, jc in config.judges.items():
        try:
            cls = registry.get(jc.judge)
        except UserError as exc:
            loc = ("judges", key, "judge")
            raise ConfigError(str(exc), path=path, line=line_of(node, loc), field=dotted(loc)) from None
        infos[jc.judge] = JudgeInfo(metric=cls.metric, label_maps=dict(cls.label_maps or {}))
    return infos


def load_calibration(path: str | Path) -> CalibrationFile:
    """A calibration JSON written by ``lam3 calibrate``; errors name file, line and field."""
    return load_json_model(path, CalibrationFile, marker="lam3_calibration_version", what="calibration file")


def load_ensemble(config_path: str | Path, *, calibration: str | Path | None = None,
                  reviews: str | Path | None = None, fitting: bool = False) -> LoadedEnsemble:
    """Validate the YAML, read the calibration it names (``calibration`` overrides), compile the ensemble."""
    path = Path(config_path)
    config = load_config(path, EnsembleConfig)
    _, node = read_yaml(path)
    cal_path = Path(calibration) if calibration else resolve(config.calibration, path.parent)
    rev_path = Path(reviews) if reviews else resolve(config.reviews, path.parent)
    cal = load_calibration(cal_path) if cal_path and not fitting else None
    try:
        ensemble = Ensemble(config, judge_infos(config, path, node), cal, fitting=fitting)
    except EnsembleError as exc:
        raise located(exc, path, node) from None
    cards = [p for p in (resolve(c, path.parent) for c in config.judge_cards) if p is not None]
    return LoadedEnsemble(ensemble, config, path, node, cal_path, rev_path, cards)
