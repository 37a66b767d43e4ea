"""The Tomita grammars: each automaton against its definition (hand strings and every string up to length 12),
exact counts, and the data module balanced, seeded and split by length."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from captra.classification.tomita import GRAMMARS, grammar
from captra.classification.tomita_data import TomitaDataModule


def runs(string: str) -> list[tuple[str, int]]:
    return [(symbol, len(list(group))) for symbol, group in itertools.groupby(string)]


def no_odd_zeros_after_odd_ones(string: str) -> bool:
    armed = False  # an odd run of 1s has been seen
    for symbol, length in runs(string):
        if symbol == "0" and length % 2 and armed:
            return False
        armed = armed or (symbol == "1" and length % 2 == 1)
    return True


DEFINITIONS = {
    1: lambda s: re.fullmatch("1*", s) is not None,
    2: lambda s: re.fullmatch("(10)*", s) is not None,
    3: no_odd_zeros_after_odd_ones,
    4: lambda s: "000" not in s,
    5: lambda s: s.count("0") % 2 == 0 and s.count("1") % 2 == 0,
    6: lambda s: (s.count("0") - s.count("1")) % 3 == 0,
    7: lambda s: re.fullmatch("0*1*0*1*", s) is not None,
}

HAND = {  # (accepted, rejected) strings picked by hand from each definition
    1: (["1", "1111"], ["0", "110", "10111"]),
    2: (["10", "101010"], ["1", "01", "1001", "10101"]),
    3: (["0", "1", "11", "100", "1100", "110", "0011000", "10011", "1001100"],
        ["10", "1000", "01110", "100110", "1001101100", "10110"]),
    4: (["1", "00", "1001001", "0010"], ["000", "10001", "11110000"]),
    5: (["00", "11", "0110", "1010"], ["0", "1", "011", "1110"]),
    6: (["01", "10", "000", "1110101"], ["0", "1", "00", "0001"]),
    7: (["0", "0101", "0011001111", "1"], ["1010", "01010", "110011001"]),
}


@pytest.mark.parametrize("number", range(1, 8))
def test_each_automaton_is_its_definition(number):
    automaton, definition = grammar(number), DEFINITIONS[number]
    accepted, rejected = HAND[number]
    assert all(definition(s) for s in accepted) and not any(definition(s) for s in rejected)  # the hand picks
    assert all(automaton.accepts(s) for s in accepted) and not any(automaton.accepts(s) for s in rejected)
    for length in range(13):
        strings = ["".join(bits) for bits in itertools.product("01", repeat=length)]
        assert [automaton.accepts(s) for s in strings] == [definition(s) for s in strings]
        assert automaton.count(length, True) == sum(map(definition, strings))
        assert automaton.count(length, False) == 2 ** length - automaton.count(length, True)


def test_sampled_strings_have_their_class_and_are_distinct():
    rng = random.Random(0)
    for number, automaton in GRAMMARS.items():
        for accept in (True, False):
            if automaton.count(40, accept):
                strings = automaton.distinct(rng, 40, accept, 20)
                assert len(set(strings)) == min(20, automaton.count(40, accept)) and all(len(s) == 40 for s in strings)
                assert all(DEFINITIONS[number](s) == accept for s in strings)
    assert sorted(grammar(7).distinct(rng, 3, True, 100)) == ["000", "001", "010", "011", "100", "101", "110", "111"][:0] + \
        sorted(s for s in ("000", "001", "010", "011", "100", "101", "110", "111") if DEFINITIONS[7](s))
    with pytest.raises(ValueError, match="there are grammars 1 to 7"):
        grammar(8)


@pytest.mark.parametrize("number", [4, 7])
def test_the_data_module_is_balanced_seeded_and_tests_longer_strings(number):
    data = TomitaDataModule(grammar=number, per_length=20, eval_per_length=5, seed=1)
    train, val, test = (data.strings(split) for split in ("train", "val", "test"))
    assert TomitaDataModule(grammar=number, per_length=20, eval_per_length=5, seed=1).strings("test") == test
    assert TomitaDataModule(grammar=number, per_length=20, eval_per_length=5, seed=2).strings("test") != test
    assert {len(s) for s, _ in test} == set(range(11, 51)) and {len(s) for s, _ in train} == set(range(1, 11))
    assert max(len(s) for s, _ in val) <= 10
    for pairs in (train, val, test):
        assert all(grammar(number).accepts(s) == bool(label) for s, label in pairs)
    for length in range(11, 51):  # test: as many accepted as rejected at every length
        labels = [label for s, label in test if len(s) == length]
        assert labels.count(1) == labels.count(0) == 5
    for length in range(5, 11):  # training: 20 of each class per length
        labels = [label for s, label in train if len(s) == length]
        assert labels.count(1) == labels.count(0) == 20
    assert not {s for s, _ in val if len(s) >= 8} & {s for s, _ in train}  # held out where strings are left


def test_few_accepted_strings_are_oversampled_in_training_and_matched_in_evaluation():
    data = TomitaDataModule(grammar=2, per_length=10, eval_per_length=5)
    train, test = data.strings("train"), data.strings("test")
    assert [s for s, label in train if len(s) == 4 and label] == ["1010"] * 10
    assert sorted(label for s, label in test if len(s) == 12) == [0, 1]  # one accepted string: one rejected
    assert [label for s, label in test if len(s) == 13] == [0]  # odd: none accepted, as many as length 12 has
    data.setup("test")
    batch = data.datasets["test"].__getitems__([0])
    assert batch["src_lengths"].tolist() == [11] and data.text["label"]["vocab"][4:] == ["reject", "accept"]
