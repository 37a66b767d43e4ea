"""TextPipeline: one language's tokenizer and vocabulary, text <-> ids, storable as plain data."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Iterable, Literal, Sequence

from captra.common.text.tokenizers import (CharTokenizer, SentencePieceTokenizer, Tokenizer, WordTokenizer,
                                           tokenizer_from_state)
from captra.common.text.vocab import Vocabulary

TokenizerKind = Literal["word", "sentencepiece", "char"]


class TextPipeline:
    """Text -> token ids (no `<s>`/`</s>`) and ids -> detokenized text."""

    def __init__(self, tokenizer: Tokenizer, vocab: Vocabulary) -> None:
        self.tokenizer = tokenizer
        self.vocab = vocab

    @classmethod
    def build(
        cls,
        sentences: Iterable[str],
        kind: TokenizerKind = "sentencepiece",
        vocab_size: int = 8000,
        min_freq: int = 1,
        lowercase: bool = False,
    ) -> "TextPipeline":
        """Fit a tokenizer and vocabulary on training sentences (any iterable: a stream is read once)."""
        if kind == "sentencepiece":
            tokenizer = SentencePieceTokenizer.train(sentences, vocab_size, lowercase=lowercase)
            return cls(tokenizer, Vocabulary(tokenizer.pieces()))
        if kind in ("word", "char"):
            tokenizer = WordTokenizer(lowercase=lowercase) if kind == "word" else CharTokenizer(lowercase=lowercase)
            vocab = Vocabulary.build((tokenizer.tokenize(s) for s in sentences), min_freq=min_freq, max_size=vocab_size)
            return cls(tokenizer, vocab)
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected 'word', 'char' or 'sentencepiece'")

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(self.tokenizer.tokenize(text))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """`encode` of many texts. A SentencePiece vocabulary is its model's piece list in id order, so the model's
        own ids are the vocabulary's (unknown pieces are <unk> in both): one call encodes them all."""
        if self._vocab_is_piece_list:
            return self.tokenizer.piece_ids(texts)
        return [self.encode(text) for text in texts]

    @cached_property
    def _vocab_is_piece_list(self) -> bool:
        return isinstance(self.tokenizer, SentencePieceTokenizer) and self.vocab.itos == self.tokenizer.pieces()

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.detokenize(self.vocab.decode(ids))

    def to_state(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer.to_state(), "vocab": self.vocab.to_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "TextPipeline":
        return cls(tokenizer_from_state(state["tokenizer"]), Vocabulary.from_state(state["vocab"]))
