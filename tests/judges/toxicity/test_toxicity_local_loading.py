"""Loading the local toxicity judges: checkpoints, variants, revisions, offline use, configs, CLI."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lam3.errors import ConfigError, UserError
from lam3.judges import registry
from lam3.judges.base import ScoreInput
from lam3.taxonomy import DETOXIFY_TO_SOCIAL, SOCIAL_CATEGORIES, TOXIC_BERT_TO_SOCIAL
from lam3.judges.hf_classifier import (
    DetoxifyConfig,
    DetoxifyJudge,
    HFTextClassificationConfig,
    HFTextClassificationJudge,
)
from lam3.pipeline.score import load_score_config

REPO = Path(__file__).resolve().parents[3]
ORIGINAL = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]
UNBIASED = ["toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat", "sexual_explicit"]


def one(text: str = "you idiot") -> list[ScoreInput]:
    return [ScoreInput(id="r1", text=text)]


def detoxify(ckpt, hf_dir, variant="original", **kw) -> DetoxifyJudge:
    return DetoxifyJudge(DetoxifyConfig(variant=variant, checkpoint=str(ckpt),
                                           huggingface_config_path=str(hf_dir) if hf_dir else None,
                                           device="cpu", **kw))


# -- Detoxify --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "labels"), [("original", ORIGINAL), ("unbiased", UNBIASED),
                                                 ("multilingual", UNBIASED)])
def test_detoxify_labels_per_variant(detoxify_checkpoints, variant, labels):
    judge = detoxify(*detoxify_checkpoints[variant], variant=variant)
    assert judge.labels == labels  # known before loading
    [j] = judge.score(one())
    assert list(j.scores) == labels  # the checkpoint's class names, Detoxify's renames applied
    assert judge.labels == labels
    assert j.error is None and j.metric == "social_toxicity" and j.details["model"] == f"detoxify-{variant}"
    assert j.details["checkpoint"] == f"detoxify-{variant}.ckpt"
    assert all(DETOXIFY_TO_SOCIAL[label] in SOCIAL_CATEGORIES for label in j.scores)
    assert judge.offline is True


def test_detoxify_variant_must_match_the_checkpoint(detoxify_checkpoints):
    judge = detoxify(*detoxify_checkpoints["original"], variant="unbiased")
    with pytest.raises(ConfigError, match="not the labels of variant 'unbiased'"):
        judge.score(one())
    with pytest.raises(ConfigError):  # the failure is cached: no reload per batch
        judge.score(one())


def test_detoxify_without_local_config_asks_the_hub_and_says_how_to_stay_offline(detoxify_checkpoints):
    ckpt, _ = detoxify_checkpoints["original"]
    judge = detoxify(ckpt, None)
    assert judge.offline is False
    with pytest.raises(UserError, match="'bert-base-uncased'.*set huggingface_config_path"):
        judge.score(one())


def test_detoxify_refuses_pickled_objects(detoxify_checkpoints, tmp_path):
    ckpt, hf_dir = detoxify_checkpoints["original"]
    data = torch.load(ckpt, weights_only=True)
    data["hyper_parameters"] = argparse.Namespace(lr=1e-5)  # what Lightning checkpoints often carry
    bad = tmp_path / "pickled.ckpt"
    torch.save(data, bad)
    with pytest.raises(UserError, match="refused to load.*argparse.Namespace"):
        detoxify(bad, hf_dir).score(one())


def test_detoxify_weights_that_do_not_fit_are_an_error_not_random_scores(detoxify_checkpoints, tmp_path):
    ckpt, hf_dir = detoxify_checkpoints["original"]
    data = torch.load(ckpt, weights_only=True)
    data["state_dict"] = {"model." + k: v for k, v in data["state_dict"].items()}
    bad = tmp_path / "prefixed.ckpt"
    torch.save(data, bad)
    with pytest.raises(UserError, match="weights do not fit BertForSequenceClassification"):
        detoxify(bad, hf_dir).score(one())


def test_detoxify_config_checks_paths(tmp_path):
    with pytest.raises(ValueError, match="checkpoint file not found"):
        DetoxifyConfig(checkpoint=str(tmp_path / "absent.ckpt"))
    with pytest.raises(ValueError, match="no config.json"):
        DetoxifyConfig(huggingface_config_path=str(tmp_path))
    with pytest.raises(ValueError, match="device must be"):
        DetoxifyConfig(device="gpu0")


# -- HF text classification -------------------------------------------------------------------------


def hub(cache, **kw) -> HFTextClassificationJudge:
    return HFTextClassificationJudge(HFTextClassificationConfig(
        model=cache.repo_id, cache_dir=str(cache.cache_dir), local_files_only=True, device="cpu", **kw))


def test_hf_labels_come_from_id2label(toxic_bert_dir):
    judge = HFTextClassificationJudge(HFTextClassificationConfig(model=str(toxic_bert_dir), device="cpu"))
    assert judge.offline is True
    assert judge.labels == list(TOXIC_BERT_TO_SOCIAL)  # from config.json, before loading
    [j] = judge.score(one())
    assert list(j.scores) == list(TOXIC_BERT_TO_SOCIAL)
    assert j.details["model"] == str(toxic_bert_dir) and "revision" not in j.details


def test_hf_revision_reaches_the_hub_cache_resolution(hub_cache):
    main = hub(hub_cache, revision="main")
    assert main.labels == list(TOXIC_BERT_TO_SOCIAL)
    [j] = main.score(one())
    assert j.error is None and j.details["revision"] == hub_cache.commit
    [by_commit] = hub(hub_cache, revision=hub_cache.commit).score(one())
    assert by_commit.scores == j.scores

    missing = hub(hub_cache, revision="v9-does-not-exist")
    with pytest.raises(UserError, match=r"hf_text_classification: cannot load model 'lam3-tiny/toxic-bert' at "
                                        r"revision 'v9-does-not-exist' \(local_files_only=True"):
        missing.score(one())


def test_hf_loading_knobs_reach_from_pretrained(hub_cache, monkeypatch):
    """revision, local_files_only and cache_dir arrive at both real from_pretrained calls."""
    import transformers

    seen = []
    for cls in (transformers.AutoTokenizer, transformers.AutoModelForSequenceClassification):
        real = cls.from_pretrained

        def spy(name, *args, _real=real, **kwargs):
            seen.append((name, kwargs))
            return _real(name, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", spy)
    hub(hub_cache, revision="main").score(one())
    assert len(seen) == 2
    for name, kwargs in seen:
        assert name == hub_cache.repo_id
        assert kwargs == {"revision": "main", "local_files_only": True, "cache_dir": str(hub_cache.cache_dir)}


def test_hf_revision_on_a_local_folder_is_rejected(toxic_bert_dir):
    with pytest.raises(ValueError, match="local folder, which has no revisions"):
        HFTextClassificationConfig(model=str(toxic_bert_dir), revision="main")


def test_hf_offline_flag_and_default_labels():
    default = HFTextClassificationJudge()
    assert default.config.model == "unitary/toxic-bert" and default.offline is False
    assert default.labels == list(TOXIC_BERT_TO_SOCIAL)
    assert HFTextClassificationJudge(HFTextClassificationConfig(local_files_only=True)).offline is True


# -- registry, configs, CLI ----------------------------------------------------------------------


def test_registered_under_their_yaml_names():
    assert registry.get("detoxify") is DetoxifyJudge
    assert registry.get("hf_text_classification") is HFTextClassificationJudge
    for cls in (DetoxifyJudge, HFTextClassificationJudge):
        assert cls.availability() == (True, "")
        assert cls.description and cls.metric == "social_toxicity"


def test_importing_and_configuring_loads_no_torch():
    code = ("import sys; from lam3.judges.hf_classifier import *; "
            "d = DetoxifyJudge(); h = HFTextClassificationJudge(); d.labels; h.labels; "
            "DetoxifyJudge.availability(); print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def write_config(path: Path, entry: str) -> Path:
    path.write_text("batch_size: 8\njudges:\n" + entry, encoding="utf-8")
    return path


def test_config_typo_and_wrong_type_name_file_and_key(tmp_path, detoxify_checkpoints):
    ckpt, hf_dir = detoxify_checkpoints["original"]
    head = f"  - judge: detoxify\n    checkpoint: {ckpt}\n    huggingface_config_path: {hf_dir}\n"
    typo = write_config(tmp_path / "typo.yaml", head + "    batchsize: 4\n")
    with pytest.raises(ConfigError) as err:
        load_score_config(typo)
    assert str(err.value) == f"{typo}:6: judges[0].batchsize: unknown key"
    wrong = write_config(tmp_path / "wrong.yaml", head + "    batch_size: many\n")
    with pytest.raises(ConfigError, match=rf"^{wrong}:6: judges\[0\].batch_size: "):
        load_score_config(wrong)
    variant = write_config(tmp_path / "variant.yaml", head + "    variant: small\n")
    with pytest.raises(ConfigError, match=rf"^{variant}:6: judges\[0\].variant: "):
        load_score_config(variant)
    hf = write_config(tmp_path / "hf.yaml", "  - judge: hf_text_classification\n    revison: main\n")
    with pytest.raises(ConfigError, match=rf"^{hf}:4: judges\[0\].revison: unknown key"):
        load_score_config(hf)


@pytest.mark.parametrize(("name", "judge"), [("toxicity_detoxify.yaml", "detoxify"),
                                                ("toxicity_toxicbert.yaml", "hf_text_classification")])
def test_shipped_configs_validate(name, judge):
    _, judges = load_score_config(REPO / "configs" / name)
    assert [type(j).name for _, j in judges] == [judge]


def test_lam3_score_end_to_end_with_the_tiny_detoxify_checkpoint(tmp_path, detoxify_checkpoints):
    ckpt, hf_dir = detoxify_checkpoints["unbiased"]
    cfg = write_config(tmp_path / "tox.yaml", f"  - judge: detoxify\n    variant: unbiased\n"
                                              f"    checkpoint: {ckpt}\n    huggingface_config_path: {hf_dir}\n"
                                              f"    device: cpu\n    batch_size: 3\n")
    texts = ["hello world", "you stupid idiot " * 500, "", "the cat is a dog", "thanks", "I hate this"]
    inp = tmp_path / "responses.jsonl"
    inp.write_text("".join(json.dumps({"id": f"x{i}", "response": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "out" / "scored.jsonl"
    run = subprocess.run([sys.executable, "-m", "lam3", "score", str(inp), "--config", str(cfg), "--out", str(out)],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"x{i}" for i in range(len(texts))]
    for row in rows:
        [(key, j)] = row["judgements"].items()
        assert key == "detoxify" and j["error"] is None and list(j["scores"]) == UNBIASED
    assert [r["judgements"]["detoxify"]["details"]["truncated"] for r in rows] == [False, True] + [False] * 4
