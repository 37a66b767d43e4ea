"""Formal languages: the generators emit only strings of their language, the recognisers refuse near misses, the
legal next symbols are those of the grammar, and the lecture decks' scorer marks a wrong prediction wrong."""

from __future__ import annotations

import random

import pytest
import torch

from captra.common.text.vocab import EOS_ID
from captra.language_model.formal import END, LANGUAGES, language
from captra.language_model.formal_data import FormalLanguageDataModule
from captra.language_model.report import largest_solved
from captra.language_model.scoring import predicted_correctly


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_generated_strings_are_in_their_language_and_near_misses_are_not(name):
    lang, rng = language(name), random.Random(0)
    for _ in range(300):
        string = lang.generate(rng, rng.randint(1, 12))
        assert lang.recognises(string), string
        assert len(lang.legal(string)) == len(string) + 1
        for symbol in lang.symbols:  # a complete string takes no further symbol
            assert not lang.recognises([*string, symbol])
        if not lang.choices_scored:  # nor does a^n b^n (c^n) survive losing one
            assert not any(lang.recognises(string[:i] + string[i + 1:]) for i in range(len(string)))
    assert not lang.recognises([])


def test_the_reber_grammar_by_hand():
    reber = language("reber")
    assert reber.recognises(list("TSSXXTVV")) and reber.recognises(list("PVV")) and reber.recognises(list("TXS"))
    assert not reber.recognises(list("TSSXXTV")) and not reber.recognises(list("PTV")) and not reber.recognises(list("TXSS"))
    assert reber.legal(list("PVV")) == [{"T", "P"}, {"T", "V"}, {"P", "V"}, {END}]
    embedded = language("embedded_reber")
    assert embedded.recognises(list("TBPVVET")) and not embedded.recognises(list("TBPVVEP"))
    assert embedded.legal(list("PBTXSEP"))[-2:] == [{"P"}, {END}]  # the second symbol must be remembered


def test_counting_languages_score_only_what_is_determined():
    anbn = language("anbn")
    legal = anbn.legal(list("aaabbb"))
    assert legal == [{"a"}, {"a", "b"}, {"a", "b"}, {"a", "b"}, {"b"}, {"b"}, {END}]
    assert anbn.scored(legal) == [True, False, False, False, True, True, True]
    assert not anbn.recognises(list("aabbb")) and not anbn.recognises(list("abab"))
    anbncn = language("anbncn")
    assert anbncn.legal(list("aabbcc"))[3:] == [{"b"}, {"c"}, {"c"}, {END}]
    assert not anbncn.recognises(list("aabbc"))


def batch_of(name: str, strings: list[str]) -> dict:
    data = FormalLanguageDataModule(language=name)
    from captra.language_model.formal_data import FormalStrings

    dataset = FormalStrings([list(s) for s in strings], data.lang, data.pipeline.vocab)
    return dataset.__getitems__(list(range(len(strings))))


def perfect_logits(batch: dict) -> torch.Tensor:
    """Logits that give the legal symbols all the probability, shared equally."""
    return torch.where(batch["legal"], 0.0, -30.0)


def test_the_scorer_accepts_the_legal_predictions_and_refuses_a_hand_made_wrong_one():
    batch = batch_of("anbn", ["aaabbb", "ab"])
    real = batch["tgt"][:, 1:] != 0
    logits = perfect_logits(batch)
    assert predicted_correctly(logits, batch["legal"], batch["scored"], real, 0.3).tolist() == [True, True]
    wrong = logits.clone()
    wrong[0, 5] = -30.0
    wrong[0, 5, EOS_ID] = 0.0  # ends after the second b of aaabbb
    assert predicted_correctly(wrong, batch["legal"], batch["scored"], real, 0.3).tolist() == [False, True]
    unsure_a = logits.clone()
    unsure_a[0, 1] = -30.0
    unsure_a[0, 1, 4] = 0.0  # during the a's only 'a' is predicted: not scored, still right
    assert predicted_correctly(unsure_a, batch["legal"], batch["scored"], real, 0.3).tolist() == [True, True]


def test_the_reber_scorer_needs_both_choices_and_nothing_else():
    batch = batch_of("reber", ["PVV"])
    real = batch["tgt"][:, 1:] != 0
    logits = perfect_logits(batch)
    assert predicted_correctly(logits, batch["legal"], batch["scored"], real, 0.3).tolist() == [True]
    one_choice = logits.clone()
    t_id = FormalLanguageDataModule(language="reber").pipeline.vocab.stoi["T"]
    one_choice[0, 0, t_id] = -30.0  # after <s> only P: T is legal too
    assert predicted_correctly(one_choice, batch["legal"], batch["scored"], real, 0.3).tolist() == [False]


def test_the_splits_train_small_and_test_every_size_up_to_the_largest():
    data = FormalLanguageDataModule(language="anbncn", train_max_n=4, test_max_n=9, train_size=50)
    assert {data.lang.size(s) for s in data.strings("train")} <= set(range(1, 5))
    assert [data.lang.size(s) for s in data.strings("test")] == list(range(1, 10))
    assert data.strings("train") == FormalLanguageDataModule(language="anbncn", train_max_n=4, train_size=50).strings("train")
    assert largest_solved([(1, True), (2, True), (3, False), (4, True)]) == 2
