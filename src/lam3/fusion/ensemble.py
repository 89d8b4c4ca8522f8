"""Multi-judge fusion: several judges' judgements → one :class:`~lam3.records.FusedResult` per response.

Why a separate, explicit ensemble: judges disagree (a toxicity model barely reacts to a
bomb recipe, a guard model ignores slurs), so how they are combined has to be a visible,
configurable choice — recorded per response as the votes, whether the judges split, and
how the split was settled — never an implicit average.

Steps for each metric of each response (configured in ``configs/ensemble.yaml``):

1. *multi-label merge* (:mod:`~lam3.fusion.categories`): each judge's labels are mapped onto
   the metric's canonical categories; per category the judges are reduced with a reducer;
2. each judge's probability for the metric (its ``score_label`` or its highest mapped
   category), optionally calibrated, and its vote from ONE source: a label-type judge's own
   ``verdict``, otherwise its probability against the threshold the strategy uses (see
   :mod:`~lam3.fusion.strategies`);
3. *rules* (first match decides, e.g. "Llama Guard ≥ 0.9 decides policy risk");
4. otherwise the registered *strategy* (vote, soft_vote, merge, or a plugin's);
5. *arbitration* (:mod:`~lam3.fusion.arbitration`) when judges split;
6. a human label, when one exists for the response, decides (resolution ``"human"``).

A judge that errored or has no judgement is left out, listed in ``missing``, and the
remaining weights are renormalised; it is never counted as "safe". Pure: no I/O. What the
judges' classes say about their labels comes in as :class:`JudgeInfo`; locating an
:class:`EnsembleError` in the YAML file is the caller's job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from lam3.fusion.arbitration import HUMAN_PENDING, disagree, settle
from lam3.fusion.calibration import CalibrationFile, Calibrator, JudgeSignature
from lam3.fusion.categories import clip, map_labels, merge_categories
from lam3.fusion.config import EnsembleConfig, MetricConfig
from lam3.fusion.labels import canonical_categories
from lam3.fusion.reducers import REDUCERS, Reducer, maximum
from lam3.fusion.strategies import STRATEGIES, Ballot, Strategy, merge
from lam3.records import METRICS, FusedResult, Judgement, Metric, MetricResult


@dataclass(frozen=True)
class JudgeInfo:
    """What fusion needs from a judge's class: the metric it reports and its label → category tables."""

    metric: Metric
    label_maps: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


class EnsembleError(ValueError):
    """A problem with the ensemble config; ``loc`` is the path of keys in the YAML that names it."""

    def __init__(self, message: str, loc: tuple[Any, ...]) -> None:
        super().__init__(message)
        self.message, self.loc = message, loc


class RecordError(ValueError):
    """A scored record that cannot be fused as it is; ``field`` is the dotted path inside the record."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass
class JudgePlan:
    key: str
    judge: str
    weight: float
    maps: dict[Metric, dict[str, str] | None]
    """per metric fed: label → category table; None = the labels already are categories"""
    score_label: dict[Metric, str]
    thresholds: dict[Metric, float] = field(default_factory=dict)
    """votes in metrics whose strategy combines votes"""
    calibrators: dict[Metric, Calibrator] = field(default_factory=dict)


@dataclass
class MetricPlan:
    name: Metric
    config: MetricConfig
    strategy: Strategy
    reducer: Reducer
    category_reducers: dict[str, Reducer]
    voters: list[str]
    arbiter: str | None
    extras: frozenset[str] = frozenset()
    """the arbiter and rule judges that do not vote: needed only sometimes, never reported missing"""
    judges: list[str] = field(default_factory=list)
    ballot_order: list[str] = field(default_factory=list)
    """the voters sorted by key: strategies see ballots in this order, so the config's order never matters"""

    def __post_init__(self) -> None:
        extra = [self.arbiter] if self.arbiter else []
        extra += [r.judge for r in self.config.rules if r.judge not in self.voters and r.judge not in extra]
        self.judges = self.voters + extra
        self.extras = frozenset(extra)
        self.ballot_order = sorted(self.voters)

    @property
    def combines_votes(self) -> bool:
        return self.strategy.combines == "votes"


_FUSED_FIELDS = frozenset(FusedResult.model_fields)
"""a carried input field never replaces one of these"""


def _bump(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


@dataclass
class FuseStats:
    """What the caller should report: per metric/judge why judges were left out, and more."""

    missing: dict[str, dict[str, int]] = field(default_factory=dict)
    errored: dict[str, int] = field(default_factory=dict)
    unmapped: dict[str, dict[str, int]] = field(default_factory=dict)
    malformed: dict[str, int] = field(default_factory=dict)
    unconfigured: dict[str, int] = field(default_factory=dict)
    arbiter_missing: dict[str, int] = field(default_factory=dict)


class Ensemble:
    """A validated, compiled ensemble: call :meth:`fuse` once per response."""

    def __init__(self, config: EnsembleConfig, judges: Mapping[str, JudgeInfo],
                 calibration: CalibrationFile | None = None, *, fitting: bool = False) -> None:
        """``judges``: by judge name, every judge the config names. ``fitting=True`` (``lam3 calibrate``):
        raw probabilities only; thresholds and calibration are not resolved."""
        self.config = config
        self.calibration = calibration
        self.fitting = fitting
        self.stats = FuseStats()
        self.judges: dict[str, JudgePlan] = {}
        self.metrics: dict[Metric, MetricPlan] = {}
        self._weights: dict[str, float] = {}
        self._sources: dict[tuple[str, Metric], bool] = {}
        """(judge key, metric) → whether its votes come from its own verdict (one source per run)"""
        self._compile_judges(judges)
        self._compile_metrics()
        if not fitting:
            self._check_thresholds()
            self._check_weights()
            self._resolve_thresholds_and_calibration()

    # -- compiling -------------------------------------------------------------------------------
    def _compile_judges(self, infos: Mapping[str, JudgeInfo]) -> None:
        for key, jc in self.config.judges.items():
            loc: tuple[Any, ...] = ("judges", key)
            info = infos[jc.judge]
            maps: dict[str, dict[str, str]] = {m: dict(t) for m, t in info.label_maps.items()}
            for metric, override in jc.label_map.items():
                table = maps.setdefault(metric, {})
                for label, cat in override.items():
                    if cat is None:
                        table.pop(label, None)
                    elif cat not in canonical_categories(metric):
                        raise EnsembleError(f"{cat!r} is not a {metric} category "
                                            f"({', '.join(sorted(canonical_categories(metric)))})",
                                            loc + ("label_map", metric, label))
                    else:
                        table[label] = cat
            feeds = list(jc.metrics) if jc.metrics is not None else [
                m for m in METRICS if m in maps or m == info.metric or m in jc.score_label]
            for metric in jc.score_label:
                if metric not in feeds:
                    raise EnsembleError(f"judge does not feed {metric}", loc + ("score_label", metric))
            if isinstance(jc.threshold, dict):
                for metric in jc.threshold:
                    if metric not in feeds:
                        raise EnsembleError(f"judge does not feed {metric}", loc + ("threshold", metric))
            self.judges[key] = JudgePlan(
                key=key, judge=jc.judge, weight=jc.weight, score_label=dict(jc.score_label),
                maps={m: (maps[m] if maps.get(m) or m in jc.label_map else None) for m in feeds})
            self._weights[key] = jc.weight

    def _compile_metrics(self) -> None:
        for metric in METRICS:
            mc = self.config.metric(metric)
            explicit = mc is not None
            mc = mc if mc is not None else MetricConfig()
            loc: tuple[Any, ...] = (metric,)
            feeders = [k for k, plan in self.judges.items() if metric in plan.maps]
            voters = feeders
            if mc.judges is not None:
                for i, k in enumerate(mc.judges):
                    if k not in self.config.judges:
                        raise EnsembleError(f"unknown judge {k!r}", loc + ("judges", i))
                    if k not in feeders:
                        raise EnsembleError(f"judge {k!r} does not feed {metric}", loc + ("judges", i))
                voters = list(mc.judges)
            arb = mc.arbitration
            if arb.arbiter is not None:
                if arb.arbiter not in feeders:
                    raise EnsembleError(f"arbiter {arb.arbiter!r} is not a judge feeding {metric}",
                                        loc + ("arbitration", "arbiter"))
                voters = [k for k in voters if k != arb.arbiter]
            for i, rule in enumerate(mc.rules):
                if rule.judge not in feeders:
                    raise EnsembleError(f"rule judge {rule.judge!r} is not a judge feeding {metric}",
                                        loc + ("rules", i, "judge"))
            for cat in mc.category_reducers:
                if cat not in canonical_categories(metric):
                    raise EnsembleError(f"{cat!r} is not a {metric} category", loc + ("category_reducers", cat))
            if not voters:
                if explicit:
                    raise EnsembleError(f"no judge feeds {metric}", loc)
                continue
            self.metrics[metric] = MetricPlan(
                metric, mc, STRATEGIES.get(mc.strategy), REDUCERS.get(mc.reducer),
                {cat: REDUCERS.get(name) for cat, name in mc.category_reducers.items()}, voters, arb.arbiter)
        if not self.metrics:
            raise EnsembleError("no judge feeds any metric", ("judges",))

    def _check_thresholds(self) -> None:
        """A judge's threshold only makes votes where the strategy combines votes; elsewhere it is refused."""
        for key, jc in self.config.judges.items():
            fed = [m for m, plan in self.metrics.items() if key in plan.judges]
            unused = [m for m in fed if jc.sets_threshold(m) and not self.metrics[m].combines_votes]
            if unused and (isinstance(jc.threshold, dict) or len(unused) == len(fed)):
                m = unused[0]
                plan = self.metrics[m]
                loc = ("judges", key, "threshold") + ((m,) if isinstance(jc.threshold, dict) else ())
                raise EnsembleError(
                    f"has no effect: {m} uses strategy {plan.strategy.name!r}, which combines probabilities, so "
                    f"every judge's vote there is its probability against {m}.threshold "
                    f"({plan.config.threshold}); set that, or use a strategy that combines votes (vote)", loc)

    def _check_weights(self) -> None:
        for key, jc in self.config.judges.items():
            if jc.weight == 1.0:
                continue
            used = [m for m, plan in self.metrics.items() if key in plan.voters
                    and not (plan.strategy.fn is merge and plan.reducer is maximum)]
            if not used:
                raise EnsembleError("a weight has no effect: every metric this judge votes in uses "
                                    "strategy 'merge' with reducer 'max'", ("judges", key, "weight"))

    def _resolve_thresholds_and_calibration(self) -> None:
        cal = self.calibration.judges if self.calibration is not None else None
        for key, jc in self.config.judges.items():
            plan = self.judges[key]
            for metric in plan.maps:
                entry = (cal or {}).get(key, {}).get(metric)
                if cal is not None and jc.calibrated:
                    if entry is None:
                        raise EnsembleError(f"the calibration file has no entry for judge {key!r}, metric {metric}; "
                                            f"refit with 'lam3 calibrate' or set judges.{key}.calibrated: false",
                                            ("judges", key, "calibrated"))
                    if entry.judge is not None and entry.judge != JudgeSignature.of(key, jc):
                        raise EnsembleError(f"calibration of judge {key!r} ({metric}) was fitted with another "
                                            f"judge/label_map/score_label ({entry.judge.model_dump()}); refit with "
                                            "'lam3 calibrate'", ("judges", key))
                    plan.calibrators[metric] = entry.calibrator()
                t = jc.threshold_for(metric)
                if t == "calibrated":
                    if entry is None:
                        raise EnsembleError("threshold 'calibrated' needs a calibration file with this judge "
                                            f"(metric {metric})", ("judges", key, "threshold"))
                    if not jc.calibrated:
                        # the fitted threshold is on the calibrated scale; using it on raw scores is wrong
                        raise EnsembleError("threshold 'calibrated' needs calibrated: true",
                                            ("judges", key, "threshold"))
                    t = entry.threshold
                plan.thresholds[metric] = float(t)

    # -- one judgement ----------------------------------------------------------------------------
    def judgement(self, key: str, raw: Judgement | Mapping[str, Any]) -> Judgement | None:
        """The judgement as fusion can use it, or None (errored or malformed; counted in :attr:`stats`)."""
        if isinstance(raw, Judgement):
            j = raw
        else:
            try:
                j = Judgement.model_validate(raw)
            except ValidationError:
                _bump(self.stats.malformed, key)
                return None
        if j.error:
            _bump(self.stats.errored, key)
            return None
        return j

    def probability(self, key: str, metric: Metric, judgement: Judgement) -> tuple[float, dict[str, float]] | None:
        """The judge's (calibrated) probability for ``metric`` and its scores per category; None when unusable."""
        plan = self.judges[key]
        cats = map_labels(judgement.scores, plan.maps[metric], metric)
        label = plan.score_label.get(metric)
        if label is not None:
            if label not in judgement.scores:
                _bump(self.stats.malformed, key)
                return None
            p = judgement.scores[label]
        elif cats:
            p = max(cats.values())
        else:
            # the judge ran but reported nothing for this metric: its probability is 0, reported as 'unmapped'
            _bump(self.stats.unmapped.setdefault(metric, {}), key)
            p = 0.0
        calibrate = plan.calibrators.get(metric)
        return (calibrate(p) if calibrate is not None else p), cats

    def _vote(self, key: str, plan: MetricPlan, judgement: Judgement, p: float) -> bool:
        """The judge's vote from its one declared source: its own verdict, or its probability ≥ a threshold."""
        metric = plan.name
        own = (judgement.verdict or {}).get(metric)
        first = self._sources.setdefault((key, metric), own is not None)
        if first != (own is not None):
            raise RecordError(f"judge {key!r} gave its own {metric} verdict on some responses and not on others; "
                              "score every response with one judge config (mode / flag_by)",
                              f"judgements.{key}.verdict")
        if own is None:
            return p >= (self.judges[key].thresholds[metric] if plan.combines_votes else plan.config.threshold)
        if self.config.judges[key].sets_threshold(metric):
            raise EnsembleError(f"judge {key!r} decides {metric} by its own verdict (a label-type judge, e.g. Llama "
                                "Guard mode: generate or OpenAI flag_by: api), so a threshold here would be "
                                "ignored: remove it", ("judges", key, "threshold"))
        if key in plan.voters and not plan.combines_votes:
            raise EnsembleError(f"judge {key!r} votes with its own verdict (a label-type judge, e.g. Llama Guard "
                                f"mode: generate or OpenAI flag_by: api), which strategy {plan.strategy.name!r} "
                                "would ignore (it combines probabilities): use a strategy that combines votes "
                                "(vote), or score that judge without a verdict (mode: logits / flag_by: ensemble)",
                                (metric, "strategy"))
        return own

    def mismatched_judge(self, judgements: Mapping[str, Any]) -> str | None:
        """The first configured key whose judgement names another judge (a config/data mix-up)."""
        for key, plan in self.judges.items():
            j = judgements.get(key)
            name = j.judge if isinstance(j, Judgement) else j.get("judge") if isinstance(j, Mapping) else None
            if name not in (None, plan.judge):
                return key
        return None

    # -- one response -----------------------------------------------------------------------------
    def fuse(self, rid: str, judgements: Mapping[str, Judgement | Mapping[str, Any]], *,
             human: Mapping[Metric, bool] | None = None, carry: Mapping[str, Any] | None = None) -> FusedResult:
        """Fuse one response's judgements (by judge key); ``carry``: input fields copied into the result."""
        if self.fitting:
            raise RuntimeError("an ensemble built with fitting=True only reports probabilities")
        usable: dict[str, Judgement] = {}
        for key, raw in judgements.items():
            if key not in self.judges:
                _bump(self.stats.unconfigured, key)
            elif (j := self.judgement(key, raw)) is not None:
                usable[key] = j
        record: dict[str, Any] = {k: v for k, v in (carry or {}).items() if k not in _FUSED_FIELDS}
        pending = False
        for metric, plan in self.metrics.items():
            fields = self._fuse_metric(plan, usable)
            label = (human or {}).get(metric)
            if label is not None:
                fields.update(flagged=bool(label), resolution="human")
            pending = pending or fields["resolution"] == HUMAN_PENDING
            record[metric] = fields
        record.update(id=rid, review=pending)
        return FusedResult.model_validate(record)  # one validation of the whole record

    def _fuse_metric(self, plan: MetricPlan, usable: Mapping[str, Judgement]) -> dict[str, Any]:
        """The fields of one metric's :class:`MetricResult`."""
        ballots: dict[str, Ballot] = {}
        categories: dict[str, dict[str, float]] = {}
        missing: list[str] = []
        votes: dict[str, bool | None] = {}
        probabilities: dict[str, float | None] = {}
        for key in plan.judges:
            found = self.probability(key, plan.name, usable[key]) if key in usable else None
            if found is None:
                if key not in plan.extras:  # extras are only needed sometimes; reported apart
                    missing.append(key)
                    votes[key] = probabilities[key] = None
                    _bump(self.stats.missing.setdefault(plan.name, {}), key)
                continue
            p, categories[key] = found
            vote = votes[key] = self._vote(key, plan, usable[key], p)
            probabilities[key] = round(p, 6)
            ballots[key] = Ballot(key, p, vote, self._weights[key])
        out: dict[str, Any] = {"votes": votes, "probabilities": probabilities, "missing": missing, "score": None,
                               "flagged": None, "categories": {}, "disagreement": False}
        voters = [ballots[k] for k in plan.ballot_order if k in ballots]
        if not voters:
            out["resolution"] = "no_judge"
            return out
        mc = plan.config
        out["categories"] = merge_categories({b.judge: categories[b.judge] for b in voters}, self._weights,
                                             plan.reducer, plan.category_reducers)
        out["disagreement"] = disagree(voters, mc.arbitration)
        rule = next((r for r in mc.rules if r.judge in ballots and r.matches(ballots[r.judge].probability)),
                    None) if mc.rules else None
        if rule is not None:
            out.update(score=clip(ballots[rule.judge].probability), flagged=rule.decide == "flagged",
                       resolution=f"rule:{rule.label}")
            return out
        score = clip(plan.strategy(voters, plan.reducer))
        out.update(score=score, flagged=score >= mc.threshold, resolution=plan.strategy.name)
        if out["disagreement"]:
            settled = settle(mc.arbitration, ballots.get(plan.arbiter or ""), plan.strategy.name)
            if settled is not None:
                out["resolution"] = settled.resolution
                if settled.decided_by is not None:
                    out.update(score=clip(settled.decided_by.probability), flagged=settled.decided_by.vote)
                if settled.arbiter_missing:
                    _bump(self.stats.arbiter_missing, plan.name)
        return out
