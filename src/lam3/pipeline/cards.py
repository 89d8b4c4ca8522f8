"""Judge cards on disk, and the identity of the judges behind a fused file.

- **Cards.** :func:`read_card` / :func:`write_card` (JSON; errors name file, line and field).
- **Judge identity.** :func:`judge_config_hash` hashes a score-config entry as the judge resolves
  it (defaults filled in, so ``{judge: refusal}`` and the same entry with its defaults spelled out
  are one judge; ``key`` and ``batch_size`` are left out: they do not change a score).
- **The fuse stage records** (:class:`JudgeVersions` while fusing, :func:`fused_identity` at the
  end) the judges it read: name, every version seen, and their score-config hash from the
  manifest entry of the scored file they came from, plus the ensemble's vote rules and metric
  hashes (:func:`lam3.fusion.cards.run_identity`). ``lam3 asr`` and the reports read it back
  with :func:`identity_of` and check cards against it (:func:`validity_of`).
- **Cards a fused file was checked against** are copied next to it (``OUT.cards.json``), so a run
  directory carries them when it is packed and moved.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lam3.config import config_hash, load_json_model
from lam3.errors import UserError
from lam3.fusion.cards import JudgeCard, JudgeIdentity, RunIdentity, RunJudge, Validity, run_identity
from lam3.fusion.ensemble import Ensemble
from lam3.manifest import read_manifest
from lam3.store import write_json

IDENTITY = "identity"
"""The key of the fuse stage's manifest summary that holds the :class:`RunIdentity`."""
CARDS_SUFFIX = ".cards.json"


# --- card files -----------------------------------------------------------------------------------
def read_card(path: str | Path) -> JudgeCard:
    """A judge card written by ``lam3 validate``; errors name file, line and field."""
    return load_json_model(path, JudgeCard, marker="lam3_card_version", what="judge card",
                           missing=" (write one with `lam3 validate`)")


def write_card(path: str | Path, card: JudgeCard) -> Path:
    path = Path(path)
    write_json(path, card.model_dump(mode="json"))
    return path


def read_cards(paths: Iterable[str | Path]) -> list[tuple[str, JudgeCard]]:
    """``(file name, card)`` for each path, in order, a repeated file once."""
    out, seen = [], set()
    for p in map(Path, paths):
        if p.resolve() in seen:
            continue
        seen.add(p.resolve())
        out.append((p.name, read_card(p)))
    return out


def cards_path(fused: str | Path) -> Path:
    """``OUT.cards.json`` beside a fused file: the cards ``lam3 fuse`` checked it against."""
    fused = Path(fused)
    return fused.with_name(fused.name.removesuffix(".jsonl") + CARDS_SUFFIX)


def save_run_cards(fused: str | Path, cards: Sequence[tuple[str, JudgeCard]]) -> Path | None:
    """Copy the cards beside the fused file (None and any old copy removed when there are none)."""
    path = cards_path(fused)
    if not cards:
        path.unlink(missing_ok=True)
        return None
    write_json(path, [{"source": source, "card": card.model_dump(mode="json")} for source, card in cards])
    return path


def run_cards(fused: str | Path) -> list[tuple[str, JudgeCard]]:
    """The cards ``lam3 fuse`` saved beside this fused file (none: an empty list)."""
    path = cards_path(fused)
    if not path.is_file():
        return []
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        return [(str(item["source"]), JudgeCard.model_validate(item["card"])) for item in items]
    except (json.JSONDecodeError, KeyError, TypeError, ValidationError) as exc:
        raise UserError(f"unreadable judge cards ({type(exc).__name__}): rerun `lam3 fuse` with the cards",
                        path=path) from None


# --- judge identity -------------------------------------------------------------------------------
def judge_config_hash(entry: Mapping[str, Any]) -> str | None:
    """Hash of one score-config entry as its judge resolves it (None: the judge or its options are unknown here)."""
    from lam3.judges import registry

    name = entry.get("judge")
    options = {k: v for k, v in entry.items() if k not in ("judge", "key")}
    try:
        cls = registry.get(str(name))
        resolved = cls.Config.model_validate(options).model_dump(mode="json", exclude={"batch_size"})
    except (UserError, ValidationError):
        return None
    return config_hash({"judge": name, "options": resolved})


def score_entries(scored: Path) -> dict[str, dict[str, Any]]:
    """Judge key → its entry in the score config recorded for ``scored`` (empty: not made by `lam3 score`)."""
    stage = read_manifest(scored.parent).stages.get(f"score:{scored.name}")
    judges = ((stage.config or {}).get("judges") if stage is not None else None) or []
    return {str(e.get("key", e.get("judge"))): e for e in judges if isinstance(e, dict) and "judge" in e}


class JudgeVersions:
    """The fuse loop's tally: each judge key's name and the versions of its judgements."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, set[str]]] = {}
        self._last: dict[str, tuple[Any, Any]] = {}

    def add(self, judgements: Mapping[str, Any]) -> None:
        for key, j in judgements.items():
            if isinstance(j, Mapping) and j.get("judge") is not None:
                pair = (j["judge"], j.get("version"))
                if self._last.get(key) != pair:  # the common case, one name and version per key: no set work
                    self._last[key] = pair
                    self.seen.setdefault(key, {}).setdefault(str(pair[0]), set()).add(str(pair[1]))


def fused_identity(ensemble: Ensemble, inputs: Sequence[Path], versions: JudgeVersions) -> RunIdentity:
    """What the fuse stage records: each judge (name, versions, score-config hash) and each metric's hash."""
    entries: dict[str, dict[str, Any]] = {}
    for path in inputs:  # a key in several inputs: the later file's judgements are used, so its entry
        entries.update(score_entries(path))
    judges = {}
    for key, names in versions.seen.items():
        name = sorted(names)[0]
        seen = sorted(names[name])
        entry = entries.get(key)
        same = entry is not None and entry.get("judge") == name
        judges[key] = RunJudge(judge=name, version=seen[0] if len(seen) == 1 else None, versions=seen,
                               config_hash=judge_config_hash(entry) if same else None)
    return run_identity(ensemble, judges)


def identity_of(fused: str | Path) -> RunIdentity | None:
    """The identity the fuse stage recorded for ``fused`` (None: fused by an older LAM3)."""
    fused = Path(fused)
    stage = read_manifest(fused.parent).stages.get(f"fuse:{fused.name}")
    found = stage.summary.get(IDENTITY) if stage is not None else None
    if found is None:
        return None
    try:
        return RunIdentity.model_validate(found)
    except ValidationError:
        return None


def card_identity(identity: RunIdentity, key: str) -> JudgeIdentity:
    j = identity.judges[key]
    return JudgeIdentity(judge=j.judge, version=j.version, config_hash=j.config_hash)


def validity_of(fused: str | Path, extra_cards: Sequence[str | Path] = ()) -> Validity:
    """The cards saved beside ``fused`` plus ``extra_cards``, checked against its recorded identity."""
    cards = run_cards(fused)
    for source, card in read_cards(extra_cards):
        if all(card != known for _, known in cards):  # a card given again is checked once
            cards.append((source, card))
    return Validity.of(cards, identity_of(fused))
