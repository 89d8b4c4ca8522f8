"""Loading the local toxicity judges (detoxify, hf_classifier): checkpoints, variants, revisions, offline use,
configs, CLI."""

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
from lam3.judges.detoxify import DetoxifyConfig, DetoxifyJudge
from lam3.judges.hf_classifier import HFClassifierConfig, HFClassifierJudge
from lam3.pipeline.score import ScoreConfig, load_score_config

REPO = Path(__file__).resolve().parents[3]
ORIGINAL = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]
UNBIASED = ["toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat", "sexual_explicit"]


def one(text: str = "you idiot") -> list[ScoreInput]:
    return [ScoreInput(id="r1", text=text)]


def detoxify(ckpt, hf_dir, variant="original", **kw) -> DetoxifyJudge:
    return DetoxifyJudge(DetoxifyConfig(variant=variant, checkpoint=str(ckpt),
                                        huggingface_config_path=str(hf_dir) if hf_dir else None,
                                        device_map="cpu", **kw))


# -- Detoxify --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "labels"), [("original", ORIGINAL), ("unbiased", UNBIASED),
                                                 ("multilingual", UNBIASED)])
def test_detoxify_labels_per_variant(detoxify_checkpoints, variant, labels):
    judge = detoxify(*detoxify_checkpoints[variant], variant=variant)
    assert judge.labels == labels  # known before loading
    [j] = judge.score(one())
    assert list(j.scores) == labels  # the checkpoint's class names, Detoxify's renames applied
    assert judge.labels == labels
    assert j.error is None and j.metric == "social_toxicity" and j.details["variant"] == variant
    assert j.details["checkpoint"] == f"detoxify-{variant}.ckpt"
    assert all(DETOXIFY_TO_SOCIAL[label] in SOCIAL_CATEGORIES for label in j.scores)
    assert judge.offline is True


def test_detoxify_variant_must_match_the_checkpoint(detoxify_checkpoints):
    with pytest.raises(ConfigError, match="not the labels of variant 'unbiased'"):  # at build, before any record
        detoxify(*detoxify_checkpoints["original"], variant="unbiased")


def test_detoxify_without_local_config_asks_the_hub_and_says_how_to_stay_offline(detoxify_checkpoints):
    ckpt, _ = detoxify_checkpoints["original"]
    assert DetoxifyJudge().offline is False
    with pytest.raises(UserError, match="'bert-base-uncased'.*set huggingface_config_path"):
        detoxify(ckpt, None)


def test_detoxify_refuses_pickled_objects(detoxify_checkpoints, tmp_path):
    ckpt, hf_dir = detoxify_checkpoints["original"]
    data = torch.load(ckpt, weights_only=True)
    data["hyper_parameters"] = argparse.Namespace(lr=1e-5)  # what Lightning checkpoints often carry
    bad = tmp_path / "pickled.ckpt"
    torch.save(data, bad)
    with pytest.raises(UserError, match="refused to load.*argparse.Namespace"):
        detoxify(bad, hf_dir)


def test_detoxify_weights_that_do_not_fit_are_an_error_not_random_scores(detoxify_checkpoints, tmp_path):
    ckpt, hf_dir = detoxify_checkpoints["original"]
    data = torch.load(ckpt, weights_only=True)
    data["state_dict"] = {"model." + k: v for k, v in data["state_dict"].items()}
    bad = tmp_path / "prefixed.ckpt"
    torch.save(data, bad)
    with pytest.raises(UserError, match="weights do not fit BertForSequenceClassification"):
        detoxify(bad, hf_dir)


def test_detoxify_config_checks_paths(tmp_path):
    with pytest.raises(ValueError, match="checkpoint file not found"):
        DetoxifyConfig(checkpoint=str(tmp_path / "absent.ckpt"))
    with pytest.raises(ValueError, match="no config.json"):
        DetoxifyConfig(huggingface_config_path=str(tmp_path))
    with pytest.raises(ValueError, match="device_map must be auto, balanced"):
        DetoxifyConfig(device_map="gpu0")
    with pytest.raises(ValueError, match="renamed: use device_map"):
        DetoxifyConfig(device="cpu")


def test_detoxify_device_map_and_precision_reach_from_pretrained(detoxify_checkpoints, monkeypatch):
    import transformers

    seen = []
    real = transformers.BertForSequenceClassification.from_pretrained.__func__

    def spy(klass, name, *args, **kwargs):
        seen.append(kwargs)
        return real(klass, name, *args, **kwargs)

    monkeypatch.setattr(transformers.BertForSequenceClassification, "from_pretrained", classmethod(spy))
    judge = detoxify(*detoxify_checkpoints["original"], precision="bf16")
    assert seen[0]["dtype"] is torch.bfloat16 and seen[0]["device_map"] == "cpu"
    assert judge.model.dtype is torch.bfloat16 and judge.loaded["dtype"] == "bfloat16"
    [j] = judge.score(one())
    assert j.error is None


# -- the HF classifier ------------------------------------------------------------------------------


def hub(cache, **kw) -> HFClassifierJudge:
    return HFClassifierJudge(HFClassifierConfig(
        model_id=cache.repo_id, cache_dir=str(cache.cache_dir), local_files_only=True, **{"device_map": "cpu", **kw}))


def test_hf_scores_are_categories_with_the_raw_labels_kept(toxic_bert_dir):
    judge = HFClassifierJudge(HFClassifierConfig(model_id=str(toxic_bert_dir), device_map="cpu"))
    assert judge.offline is True
    categories = list(dict.fromkeys(TOXIC_BERT_TO_SOCIAL.values()))
    assert judge.labels == categories
    [j] = judge.score(one())
    assert list(j.scores) == categories
    assert list(j.details["raw"]) == list(TOXIC_BERT_TO_SOCIAL)  # every model label, from id2label
    assert all(j.scores[TOXIC_BERT_TO_SOCIAL[label]] == p for label, p in j.details["raw"].items())
    assert j.details["model_id"] == str(toxic_bert_dir) and "revision" not in j.details


def test_hf_revision_reaches_the_hub_cache_resolution(hub_cache):
    main = hub(hub_cache, revision="main")
    [j] = main.score(one())
    assert j.error is None and j.details["revision"] == hub_cache.commit
    assert main.loaded["commit"] == hub_cache.commit and main.loaded["revision"] == "main"
    [by_commit] = hub(hub_cache, revision=hub_cache.commit).score(one())
    assert by_commit.scores == j.scores

    with pytest.raises(UserError, match=r"cannot load model 'lam3-tiny/toxic-bert' at revision 'v9-does-not-exist' "
                                        r"from the local HF cache"):
        hub(hub_cache, revision="v9-does-not-exist")


def test_hf_loading_knobs_reach_from_pretrained(hub_cache, monkeypatch):
    """Every knob arrives at both real from_pretrained calls, exactly, and takes effect."""
    import transformers

    seen = {}
    for cls in (transformers.AutoTokenizer, transformers.AutoModelForSequenceClassification):
        real = cls.from_pretrained

        def spy(name, *args, _real=real, _cls=cls.__name__, **kwargs):
            seen[_cls] = (name, kwargs)
            return _real(name, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", spy)
    judge = hub(hub_cache, revision="main", precision="bf16", attn_implementation="eager", device_map=None)
    files = {"revision": "main", "local_files_only": True, "cache_dir": str(hub_cache.cache_dir)}
    assert seen["AutoTokenizer"] == (hub_cache.repo_id, files)
    one_device = {"": 0} if torch.cuda.is_available() else {"": "cpu"}  # device_map: null = one device
    assert seen["AutoModelForSequenceClassification"] == (hub_cache.repo_id, {
        **files, "dtype": torch.bfloat16, "device_map": one_device, "attn_implementation": "eager"})
    assert judge.model.dtype is torch.bfloat16 and judge.model.config._attn_implementation == "eager"
    assert judge.score(one())[0].error is None


def test_hf_revision_on_a_local_folder_is_rejected(toxic_bert_dir):
    with pytest.raises(ValueError, match="local folder, which has no revisions"):
        HFClassifierConfig(model_id=str(toxic_bert_dir), revision="main")


def test_hf_offline_flag_and_default_labels():
    default = HFClassifierJudge()
    assert default.config.model_id == "unitary/toxic-bert" and default.offline is False
    assert default.labels == list(dict.fromkeys(TOXIC_BERT_TO_SOCIAL.values()))
    assert HFClassifierJudge(None).config.precision == "fp32"


# -- registry, configs, CLI ----------------------------------------------------------------------


def test_registered_under_their_yaml_names():
    assert registry.get("detoxify") is DetoxifyJudge
    assert registry.get("hf_classifier") is HFClassifierJudge
    for cls in (DetoxifyJudge, HFClassifierJudge):
        assert cls.availability() == (True, "")
        assert cls.description and cls.metric == "social_toxicity"


@pytest.mark.parametrize(("old", "hint"), [("hf_text_classification", "metric: social_toxicity"),
                                            ("safety_classifier", "metric: policy_risk")])
def test_merged_judge_names_say_what_to_write_instead(tmp_path, old, hint):
    path = write_config(tmp_path / "old.yaml", f"  - judge: {old}\n    model: unitary/toxic-bert\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: judges\[0\].judge: judge '{old}' was merged into "
                                          rf"'hf_classifier': use judge: hf_classifier .*{hint}"):
        load_score_config(path)


def test_importing_and_configuring_loads_no_torch():
    code = ("import sys; from lam3.judges.hf_classifier import *; from lam3.judges.detoxify import *; "
            "d = DetoxifyJudge(); h = HFClassifierJudge(); d.labels; h.labels; "
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
    hf = write_config(tmp_path / "hf.yaml", "  - judge: hf_classifier\n    revison: main\n")
    with pytest.raises(ConfigError, match=rf"^{hf}:4: judges\[0\].revison: unknown key"):
        load_score_config(hf)


@pytest.mark.parametrize(("name", "judge"), [("toxicity_detoxify.yaml", "detoxify"),
                                             ("toxicity_toxicbert.yaml", "hf_classifier")])
def test_shipped_configs_validate(name, judge):
    from lam3.config import load_config

    config = load_config(REPO / "configs" / name, ScoreConfig)  # the options only: building would download
    [entry] = config.judges
    assert entry["judge"] == judge
    options = registry.get(judge).Config.model_validate({k: v for k, v in entry.items() if k != "judge"})
    if judge == "hf_classifier":
        assert options.label_map == TOXIC_BERT_TO_SOCIAL and options.metric == "social_toxicity"


def test_lam3_score_end_to_end_with_the_tiny_detoxify_checkpoint(tmp_path, detoxify_checkpoints):
    ckpt, hf_dir = detoxify_checkpoints["unbiased"]
    cfg = write_config(tmp_path / "tox.yaml", f"  - judge: detoxify\n    variant: unbiased\n"
                                              f"    checkpoint: {ckpt}\n    huggingface_config_path: {hf_dir}\n"
                                              f"    device_map: cpu\n    batch_size: 3\n")
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
