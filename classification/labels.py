"""Class names travel with the vocabularies: `text["label"]` is a word pipeline whose vocabulary holds the class
names after the special tokens, so `captra fit` links them to the module with the source vocabulary
(`data.text` -> `model.text`) and every checkpoint carries them."""

from __future__ import annotations

from captra.common.text.pipeline import TextPipeline
from captra.common.text.tokenizers import WordTokenizer
from captra.common.text.vocab import SPECIALS, Vocabulary

LABEL_SIDE = "label"


def label_state(names: list[str]) -> dict:
    """The `text["label"]` entry of classes named `names` (class k is `names[k]`)."""
    return TextPipeline(WordTokenizer(), Vocabulary([*SPECIALS, *names])).to_state()


def label_names(texts: dict[str, TextPipeline]) -> list[str]:
    """The class names of a module's `texts`, class k at index k."""
    return texts[LABEL_SIDE].vocab.itos[len(SPECIALS):]
