"""A word-level tokenizer trained in-process: the offline stand-in for a hub tokenizer."""

from __future__ import annotations

from collections.abc import Iterable

BASE_CORPUS = (
    "USER: ASSISTANT: User: Assistant: Agent: the a an is are was to of and or in on for with how make "
    "build safe unsafe S1 S2 S3 S4 S5 S6 S7 S8 S9 S10 S11 S12 S13 S14 , . ? ! : \n I cannot help that "
    "sorry sure here step you your this image shows describe tell me what about explain text prompt "
    "This example is toxic insult threat hate violence weapon drug fraud hack bomb kill idiot stupid "
    "yes no true false good bad please thanks hello world cat dog tree house car"
).split()


def build_tokenizer(extra_words: Iterable[str] = (), extra_special: Iterable[str] = (),
                    padding_side: str = "left"):
    """A ``PreTrainedTokenizerFast`` with <unk>/<s>/</s>/<pad> and any extra special tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<unk>", "<s>", "</s>", "<pad>", *extra_special]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([" ".join([*BASE_CORPUS, *extra_words])],
                            trainers.WordLevelTrainer(special_tokens=special))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", padding_side=padding_side)
    if extra_special:
        fast.add_special_tokens({"additional_special_tokens": list(extra_special)})
    return fast
