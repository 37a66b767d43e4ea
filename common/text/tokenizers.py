"""Reversible tokenizers: characters, words (punctuation split off, joiner-marked) and SentencePiece subwords."""

from __future__ import annotations

import io
import re
from typing import Any, Iterable, Iterator, Protocol

import sentencepiece as spm

from captra.common.text.files import DataError
from captra.common.text.vocab import BOS, EOS, PAD, UNK

JOINER = "\uffed"  # marks a token written without a space before it (OpenNMT's "￭")
_WORD = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]", re.UNICODE)


class Tokenizer(Protocol):
    """Text <-> tokens; `detokenize(tokenize(s))` gives `s` back (up to whitespace runs)."""

    def tokenize(self, text: str) -> list[str]: ...

    def detokenize(self, tokens: list[str]) -> str: ...

    def to_state(self) -> dict[str, Any]: ...


class WordTokenizer:
    """Words and single punctuation marks; a token glued to the previous one carries `JOINER`.

    "A man, eating." -> ["A", "man", "￭,", "eating", "￭."] -> "A man, eating."
    """

    def __init__(self, lowercase: bool = False) -> None:
        self.lowercase = lowercase

    def tokenize(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        text = text.replace(JOINER, " ")
        tokens: list[str] = []
        previous_end = -1
        for match in _WORD.finditer(text):
            glued = match.start() == previous_end
            tokens.append(JOINER + match.group() if glued else match.group())
            previous_end = match.end()
        return tokens

    def detokenize(self, tokens: list[str]) -> str:
        pieces: list[str] = []
        for token in tokens:
            if token.startswith(JOINER) and len(token) > 1:
                pieces.append(token[1:])
            else:
                pieces.append((" " if pieces else "") + token)
        return "".join(pieces)

    def to_state(self) -> dict[str, Any]:
        return {"kind": "word", "lowercase": self.lowercase}


class CharTokenizer:
    """Every character a token, spaces and newlines included: "To be" -> ["T", "o", " ", "b", "e"] -> "To be"."""

    def __init__(self, lowercase: bool = False) -> None:
        self.lowercase = lowercase

    def tokenize(self, text: str) -> list[str]:
        return list(text.lower() if self.lowercase else text)

    def detokenize(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def to_state(self) -> dict[str, Any]:
        return {"kind": "char", "lowercase": self.lowercase}


class SentencePieceTokenizer:
    """SentencePiece subwords; the model travels as bytes inside the checkpoint. With `lowercase`, text is
    lowercased before it is split (the model was trained on lowercased text)."""

    def __init__(self, model: bytes, lowercase: bool = False) -> None:
        self.model = model
        self.lowercase = lowercase
        self.processor = spm.SentencePieceProcessor(model_proto=model)

    @classmethod
    def train(
        cls, sentences: Iterable[str], vocab_size: int, model_type: str = "unigram", lowercase: bool = False
    ) -> "SentencePieceTokenizer":
        """Train on `sentences` (lowercased first with `lowercase`); ids 0-3 are our special tokens, so the piece
        list is the vocabulary."""
        buffer = io.BytesIO()
        failures: list[BaseException] = []

        def texts() -> Iterator[str]:  # sentencepiece turns an error of its input into a RuntimeError: keep it
            try:
                yield from ((s.lower() for s in sentences) if lowercase else sentences)
            except Exception as error:
                failures.append(error)
                raise

        try:
            cls._train_into(buffer, texts(), vocab_size, model_type)
        except RuntimeError as error:  # sentencepiece reports bad settings as RuntimeError("INTERNAL: ...")
            if failures:  # reading the input failed (e.g. a DataError naming the file and line)
                raise failures[0] from None
            reason = str(error).split("] ")[-1].split(". Increase")[0]
            raise DataError(f"sentencepiece cannot be trained with vocab_size={vocab_size}: {reason}") from error
        return cls(buffer.getvalue(), lowercase)

    @staticmethod
    def _train_into(buffer: io.BytesIO, sentences: Iterable[str], vocab_size: int, model_type: str) -> None:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=buffer,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=1.0,
            hard_vocab_limit=False,  # tiny corpora: fewer pieces than asked instead of an error
            pad_id=0, unk_id=1, bos_id=2, eos_id=3,
            pad_piece=PAD, unk_piece=UNK, bos_piece=BOS, eos_piece=EOS,
            num_threads=1,  # deterministic: every DDP rank trains the same model
            minloglevel=2,
        )

    def pieces(self) -> list[str]:
        """All pieces in id order (starts with the special tokens)."""
        return [self.processor.id_to_piece(i) for i in range(self.processor.get_piece_size())]

    def tokenize(self, text: str) -> list[str]:
        return self.processor.encode(text.lower() if self.lowercase else text, out_type=str)

    def piece_ids(self, texts: list[str]) -> list[list[int]]:
        """The pieces' ids of many texts in one call (sentencepiece's own ids: unknown pieces get <unk>'s)."""
        return self.processor.encode([t.lower() for t in texts] if self.lowercase else texts, out_type=int)

    def detokenize(self, tokens: list[str]) -> str:
        return self.processor.decode_pieces(tokens)

    def to_state(self) -> dict[str, Any]:
        # "lowercase" only when set: the state of a model without it stays as checkpoints have always stored it
        return {"kind": "sentencepiece", "model": self.model, **({"lowercase": True} if self.lowercase else {})}


def tokenizer_from_state(state: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from `to_state()` data."""
    if state["kind"] == "word":
        return WordTokenizer(lowercase=state["lowercase"])
    if state["kind"] == "char":
        return CharTokenizer(lowercase=state["lowercase"])
    if state["kind"] == "sentencepiece":
        return SentencePieceTokenizer(state["model"], state.get("lowercase", False))
    raise ValueError(f"unknown tokenizer kind {state['kind']!r}")
