"""The seven Tomita grammars (Tomita 1982; Pollack 1991; Watrous & Kuhn 1992) as deterministic finite automata over
{0, 1}, with exact counts of their strings per length and uniform sampling of accepted or rejected strings.

    1  1*
    2  (10)*
    3  no odd-length run of 1s followed, anywhere later, by an odd-length run of 0s (runs are maximal)
    4  no 000 substring
    5  an even number of 0s and an even number of 1s
    6  (#0 - #1) mod 3 == 0
    7  0*1*0*1*

Each automaton is written out by hand (tests/test_tomita.py checks it against the definitions above, written as
plain predicates, on every string up to length 12). Counting completions per state makes sampling exact and uniform
at any length, so a sparse language (grammar 7 has ~L^3/6 strings of length L) needs no rejection sampling.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

SYMBOLS = ("0", "1")


@dataclass(frozen=True)
class Automaton:
    """A complete DFA: state 0 starts; `delta[state]` = (next state on "0", next state on "1")."""

    delta: tuple[tuple[int, int], ...]
    accepting: frozenset[int]

    def accepts(self, string: str) -> bool:
        state = 0
        for symbol in string:
            if symbol not in SYMBOLS:
                raise ValueError(f"{string!r}: Tomita strings are over 0 and 1 only")
            state = self.delta[state][symbol == "1"]
        return state in self.accepting

    @cache
    def completions(self, state: int, remaining: int, accept: bool) -> int:
        """How many strings of length `remaining` lead from `state` to an accepting (or, `accept` False, a
        rejecting) state."""
        if remaining == 0:
            return int((state in self.accepting) == accept)
        return sum(self.completions(nxt, remaining - 1, accept) for nxt in self.delta[state])

    def count(self, length: int, accept: bool) -> int:
        """Strings of `length` accepted (or rejected)."""
        return self.completions(0, length, accept)

    def sample(self, rng: random.Random, length: int, accept: bool) -> str:
        """One string of `length`, uniform over those accepted (or rejected); there must be one."""
        state, symbols = 0, []
        for remaining in range(length, 0, -1):
            zero, one = (self.completions(nxt, remaining - 1, accept) for nxt in self.delta[state])
            bit = rng.randrange(zero + one) >= zero
            symbols.append(SYMBOLS[bit])
            state = self.delta[state][bit]
        return "".join(symbols)

    def distinct(self, rng: random.Random, length: int, accept: bool, count: int) -> list[str]:
        """`count` different strings of `length` (all of them, in random order, where there are no more), uniform."""
        available = self.count(length, accept)
        if available <= 2 * count:  # few: list them all (sampling would mostly redraw the same ones)
            every = self._all(length, accept)
            rng.shuffle(every)
            return every[:count]
        chosen: dict[str, None] = {}
        while len(chosen) < count:
            chosen.setdefault(self.sample(rng, length, accept))
        return list(chosen)

    def _all(self, length: int, accept: bool) -> list[str]:
        """Every string of `length` accepted (or rejected), by walking only the branches that lead to one."""
        found: list[str] = []

        def walk(state: int, prefix: str) -> None:
            remaining = length - len(prefix)
            if remaining == 0:
                found.append(prefix)
                return
            for bit, nxt in enumerate(self.delta[state]):
                if self.completions(nxt, remaining - 1, accept):
                    walk(nxt, prefix + SYMBOLS[bit])

        walk(0, "")
        return found


DEAD = -1  # placeholder in the tables below, replaced by each automaton's own dead state


def _automaton(rows: list[tuple[int, int]], accepting: set[int]) -> Automaton:
    """An automaton from transition rows where DEAD names a rejecting sink appended as the last state."""
    dead = len(rows)
    fixed = tuple(tuple(dead if nxt == DEAD else nxt for nxt in row) for row in rows) + ((dead, dead),)
    return Automaton(fixed, frozenset(accepting))  # type: ignore[arg-type]


GRAMMARS: dict[int, Automaton] = {
    1: _automaton([(DEAD, 0)], {0}),  # 1*
    2: _automaton([(DEAD, 1), (0, DEAD)], {0}),  # (10)*: 0 expects 1, 1 expects 0
    # 3: 0 neutral (no odd 1-run yet, or an even one); 1 in an odd 1-run; 2 in an odd 0-run after an odd 1-run;
    # 3 after an odd 1-run, not in an odd 0-run (an odd 0-run from here on rejects)
    3: _automaton([(0, 1), (2, 0), (3, DEAD), (2, 3)], {0, 1, 3}),
    4: _automaton([(1, 0), (2, 0), (DEAD, 0)], {0, 1, 2}),  # state = trailing 0s
    5: _automaton([(1, 2), (0, 3), (3, 0), (2, 1)], {0}),  # state = 2 * (#1 odd) + (#0 odd)
    6: _automaton([(1, 2), (2, 0), (0, 1)], {0}),  # state = (#0 - #1) mod 3
    7: _automaton([(0, 1), (2, 1), (2, 3), (DEAD, 3)], {0, 1, 2, 3}),  # state = the block of 0*1*0*1* reached
}


def grammar(number: int) -> Automaton:
    if number not in GRAMMARS:
        raise ValueError(f"Tomita grammar {number}: there are grammars 1 to 7")
    return GRAMMARS[number]
