"""The formal languages of the course material: strings, recognisers, and the symbols legal after each prefix.

    reber           the Reber grammar (Reber 1967; Cleeremans et al. 1989): B T S S X X T V V E, B P V V E, ...
    embedded_reber  B T <reber> T E | B P <reber> P E (Hochreiter & Schmidhuber 1997): the second symbol must be
                    remembered across the whole inner string
    anbn            a^n b^n (Gers & Schmidhuber 2001)
    anbncn          a^n b^n c^n (Gers & Schmidhuber 2001)

A string is written without its outer B and E: the model's `<s>` and `</s>` play them (embedded_reber's inner
B and E are symbols of their own). `legal_next(string)` gives, for every prefix of the string (the empty one
first), the symbols that may follow it, `</s>` written as END: what a network predicting the next symbol is
scored against (`scored`: the positions that count, see `Language.choices_scored`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Literal

END = "</s>"
LanguageName = Literal["reber", "embedded_reber", "anbn", "anbncn"]

# The Reber automaton: state -> [(symbol, next state)]; it starts in 1 (after B) and state 6 only ends.
REBER = {1: [("T", 2), ("P", 3)], 2: [("S", 2), ("X", 4)], 3: [("T", 3), ("V", 5)], 4: [("X", 3), ("S", 6)],
         5: [("P", 4), ("V", 6)], 6: []}


def reber_walk(rng: random.Random) -> list[str]:
    """A random Reber string (each branch taken with probability 1/2), without B and E."""
    state, symbols = 1, []
    while REBER[state]:
        symbol, state = rng.choice(REBER[state])
        symbols.append(symbol)
    return symbols


def reber_legal(string: list[str]) -> list[set[str]] | None:
    """The symbols legal after each prefix of a Reber string (END after the whole one), or None off the grammar."""
    state, legal = 1, []
    for symbol in string:
        options = dict(REBER[state])
        legal.append(set(options))
        if symbol not in options:
            return None
        state = options[symbol]
    if REBER[state]:  # the string stops before the grammar's end
        return None
    return [*legal, {END}]


def embedded_reber_legal(string: list[str]) -> list[set[str]] | None:
    """B T <reber> T E or B P <reber> P E, read symbol by symbol; None off the grammar."""
    if len(string) < 4 or string[0] not in "TP" or string[1] != "B" or string[-2:] != ["E", string[0]]:
        return None
    inner = reber_legal(string[2:-2])
    if inner is None or inner[-1] != {END}:
        return None
    # after <s>: T or P; then B; the inner string's own (its end: E); the outer symbol again; the end
    return [{"T", "P"}, {"B"}, *inner[:-1], {"E"}, {string[0]}, {END}]


def counting_legal(string: list[str], letters: str) -> list[set[str]] | None:
    """a^n b^n (c^n): after the a's only the right number of each later letter, then END; None off the language."""
    n = len(string) // len(letters)
    if n < 1 or string != [letter for letter in letters for _ in range(n)]:
        return None
    first, second = letters[0], letters[1]
    rest = [letter for letter in letters[1:] for _ in range(n)]  # the b's (and c's)
    # After <s> an a; after each a another a or the first b (the model cannot know n); after the first b everything
    # is determined: the remaining later letters, then END.
    return [{first}, *[{first, second}] * n, *[{symbol} for symbol in rest[1:]], {END}]


@dataclass(frozen=True)
class Language:
    """One formal language: its symbols, a generator of strings of size n, and its recogniser.

    choices_scored: whether positions with several legal symbols count (the Reber grammars: the set of probable
    symbols must be the legal set) or only the determined ones (a^n b^n: the a's cannot be predicted, everything
    after the first b can).
    """

    name: LanguageName
    symbols: tuple[str, ...]
    choices_scored: bool
    generate: Callable[[random.Random, int], list[str]]  # (rng, n) -> a string (n: its counting size, ignored by Reber)
    legal: Callable[[list[str]], list[set[str]] | None]

    def recognises(self, string: list[str]) -> bool:
        """Whether `string` (without the outer B and E) is in the language."""
        return self.legal(string) is not None

    def size(self, string: list[str]) -> int:
        """What results are reported by: n for the counting languages, the string's length for the Reber ones."""
        return len(string) if self.choices_scored else len(string) // (len(self.symbols))

    def scored(self, legal: list[set[str]]) -> list[bool]:
        """Which predictions count: all of them, or only those with one legal symbol."""
        return [self.choices_scored or len(options) == 1 for options in legal]


def _embedded_reber(rng: random.Random, n: int) -> list[str]:
    outer = rng.choice("TP")
    return [outer, "B", *reber_walk(rng), "E", outer]


LANGUAGES: dict[str, Language] = {
    "reber": Language("reber", tuple("TPSXV"), True, lambda rng, n: reber_walk(rng), reber_legal),
    "embedded_reber": Language("embedded_reber", tuple("TPSXVBE"), True, _embedded_reber, embedded_reber_legal),
    "anbn": Language("anbn", tuple("ab"), False, lambda rng, n: ["a"] * n + ["b"] * n,
                     lambda string: counting_legal(string, "ab")),
    "anbncn": Language("anbncn", tuple("abc"), False, lambda rng, n: ["a"] * n + ["b"] * n + ["c"] * n,
                       lambda string: counting_legal(string, "abc")),
}


def language(name: str) -> Language:
    if name not in LANGUAGES:
        raise ValueError(f"unknown formal language {name!r}; one of {', '.join(LANGUAGES)}")
    return LANGUAGES[name]
