"""Vocabulary: a fixed mapping between tokens and integer ids, with the special tokens first."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)


class Vocabulary:
    """Tokens <-> ids. Ids 0-3 are always `<pad> <unk> <s> </s>`; unknown tokens map to `<unk>`."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with the special tokens {SPECIALS}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary must not hold the same token twice")
        self.itos: list[str] = list(tokens)
        self.stoi: dict[str, int] = {token: index for index, token in enumerate(self.itos)}

    @classmethod
    def build(
        cls, sentences: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None
    ) -> "Vocabulary":
        """Count tokens; keep those seen `min_freq` times, most frequent first (ties alphabetical)."""
        counts = Counter(token for sentence in sentences for token in sentence)
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(0, max_size - len(SPECIALS))]
        return cls(list(SPECIALS) + kept)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Tokens -> ids (no `<s>` / `</s>` added)."""
        return [self.stoi.get(token, UNK_ID) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids -> tokens, stopping at `</s>` and skipping `<pad>` and `<s>`."""
        tokens = []
        for index in ids:
            if index == EOS_ID:
                break
            if index not in (PAD_ID, BOS_ID):
                tokens.append(self.itos[index])
        return tokens

    def to_state(self) -> list[str]:
        """Plain data for a checkpoint."""
        return list(self.itos)

    @classmethod
    def from_state(cls, state: list[str]) -> "Vocabulary":
        return cls(state)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.itos == other.itos
