"""TextPipeline: one language's tokenizer and vocabulary, text <-> ids, storable as plain data."""

from __future__ import annotations

from typing import Any, Literal, Sequence

from captra.common.tokenizers import SentencePieceTokenizer, Tokenizer, WordTokenizer, tokenizer_from_state
from captra.common.vocab import Vocabulary

TokenizerKind = Literal["word", "sentencepiece"]


class TextPipeline:
    """Text -> token ids (no `<s>`/`</s>`) and ids -> detokenized text."""

    def __init__(self, tokenizer: Tokenizer, vocab: Vocabulary) -> None:
        self.tokenizer = tokenizer
        self.vocab = vocab

    @classmethod
    def build(
        cls,
        sentences: Sequence[str],
        kind: TokenizerKind = "sentencepiece",
        vocab_size: int = 8000,
        min_freq: int = 1,
        lowercase: bool = False,
    ) -> "TextPipeline":
        """Fit a tokenizer and vocabulary on training sentences."""
        if kind == "sentencepiece":
            texts = [s.lower() for s in sentences] if lowercase else sentences
            tokenizer = SentencePieceTokenizer.train(texts, vocab_size)
            return cls(tokenizer, Vocabulary(tokenizer.pieces()))
        if kind == "word":
            word_tokenizer = WordTokenizer(lowercase=lowercase)
            vocab = Vocabulary.build(
                (word_tokenizer.tokenize(s) for s in sentences), min_freq=min_freq, max_size=vocab_size
            )
            return cls(word_tokenizer, vocab)
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected 'word' or 'sentencepiece'")

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(self.tokenizer.tokenize(text))

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.detokenize(self.vocab.decode(ids))

    def to_state(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer.to_state(), "vocab": self.vocab.to_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "TextPipeline":
        return cls(tokenizer_from_state(state["tokenizer"]), Vocabulary.from_state(state["vocab"]))
