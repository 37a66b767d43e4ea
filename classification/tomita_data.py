"""Strings of a Tomita grammar labelled accept / reject, generated in memory from a seed (no files): train and
validate on short strings, test on longer ones."""

from __future__ import annotations

import random
from functools import cached_property

import lightning as L

from captra.common.data.batching import already_collated
from captra.common.data.datamodule import SplitDataModule
from captra.common.text.pipeline import TextPipeline
from captra.common.text.tokenizers import CharTokenizer
from captra.common.text.vocab import SPECIALS, Vocabulary
from captra.classification.dataset import LabelledSequences
from captra.classification.labels import LABEL_SIDE, label_state
from captra.classification.tomita import SYMBOLS, grammar as tomita_grammar

CLASSES = ["reject", "accept"]  # class 1: the string is in the language


class TomitaDataModule(SplitDataModule):
    """Binary strings of Tomita grammar `grammar`, class 1 (accept) or 0 (reject).

    Train and validation strings have lengths 1 .. train_max_length, test strings test_min_length ..
    test_max_length; validation strings are never training strings. Per length, `per_length` accepted and as
    many rejected strings, drawn uniformly without repetition (tomita.py counts and samples them exactly).

    Where a length has fewer strings of a class than wanted (grammars 1 and 2 have one accepted string, or none,
    per length; short lengths have few of either class), every string of it is taken, and balance is kept: in
    training that class's strings are repeated to `per_length` (oversampled, so that every length and class
    weighs the same); in validation and test the length has as many rejected strings as accepted ones (the
    smaller of the two counts). A length
    with no accepted string at all (odd lengths of grammar 2) gives rejected strings only: `per_length` in
    training, and in validation and test as many as the length before it has of each class (at least one).
    Validation strings are held out from training where the language has any left at that length and class;
    where training took them all (the accepted strings of grammars 1 and 2, the short lengths), validation
    reuses training strings.

    Args:
        grammar: 1 .. 7.
        train_max_length: training and validation lengths are 1 .. this.
        test_min_length, test_max_length: the test lengths.
        per_length: accepted (and rejected) strings per length in training; validation and test take
            eval_per_length.
        eval_per_length: accepted (and rejected) strings per length in validation and test.
        batch_size: training strings per batch (per device).
        eval_batch_size: strings per batch for validation and test.
        num_workers: DataLoader worker processes.
        seed: seeds the strings and the batch order.
    """

    collate_fn = staticmethod(already_collated)

    def __init__(
        self,
        grammar: int = 1,
        train_max_length: int = 10,
        test_min_length: int = 11,
        test_max_length: int = 50,
        per_length: int = 100,
        eval_per_length: int = 25,
        batch_size: int = 32,
        eval_batch_size: int = 256,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.grammar = grammar
        self.automaton = tomita_grammar(grammar)
        self.train_max_length, self.test_min_length, self.test_max_length = train_max_length, test_min_length, test_max_length
        self.per_length, self.eval_per_length = per_length, eval_per_length
        self.batch_size, self.eval_batch_size, self.num_workers, self.seed = batch_size, eval_batch_size, num_workers, seed
        self.val_split, self.test_split = "val", "test"
        self.datasets: dict[str, LabelledSequences] = {}
        self.length_buckets = (test_min_length, 21, 31)  # the report's buckets: 11-20, 21-30, 31-50

    @cached_property
    def pipeline(self) -> TextPipeline:
        """One character per symbol."""
        return TextPipeline(CharTokenizer(), Vocabulary([*SPECIALS, *SYMBOLS]))

    @property
    def text(self) -> dict[str, dict]:
        return {"src": self.pipeline.to_state(), LABEL_SIDE: label_state(CLASSES)}

    def _draw(self, rng: random.Random, length: int, accept: bool, count: int, exclude: set[str]) -> list[str]:
        """Up to `count` different strings of `length` of one class, none in `exclude` where any other exists."""
        strings = self.automaton.distinct(rng, length, accept, count + len(exclude))
        return [s for s in strings if s not in exclude][:count] or strings[:count]

    def _training_length(self, rng: random.Random, length: int) -> list[tuple[str, int]]:
        """per_length accepted and per_length rejected strings of `length`, a class's strings repeated where it has
        fewer (none where it has none)."""
        pairs = []
        for label in (1, 0):
            strings = self._draw(rng, length, bool(label), self.per_length, set())
            pairs += [(strings[i % len(strings)], label) for i in range(self.per_length)] if strings else []
        return pairs

    def _evaluation_length(self, rng: random.Random, length: int, previous: int,
                           exclude: set[str]) -> tuple[list[tuple[str, int]], int]:
        """As many accepted as rejected strings of `length` (up to eval_per_length, none in `exclude`), and how
        many of each; a length of the language without accepted strings: `previous` rejected ones."""
        if self.automaton.count(length, True) == 0:
            rejected = self._draw(rng, length, False, max(previous, 1), exclude)
            return [(s, 0) for s in rejected], len(rejected)
        accepted = self._draw(rng, length, True, self.eval_per_length, exclude)
        rejected = self._draw(rng, length, False, len(accepted), exclude)
        accepted = accepted[: len(rejected)]
        return [(s, 1) for s in accepted] + [(s, 0) for s in rejected], len(rejected)

    def strings(self, split: str) -> list[tuple[str, int]]:
        """The split's (string, class) pairs, the same for every process and run of this seed."""
        train_rng = random.Random(f"{self.seed}/tomita{self.grammar}/train")
        train = {length: self._training_length(train_rng, length) for length in range(1, self.train_max_length + 1)}
        if split == "train":
            return [pair for pairs in train.values() for pair in pairs]
        rng = random.Random(f"{self.seed}/tomita{self.grammar}/{split}")
        lengths = (range(1, self.train_max_length + 1) if split == "val"
                   else range(self.test_min_length, self.test_max_length + 1))
        chosen, previous = [], 1
        for length in lengths:
            seen = {s for s, _ in train.get(length, [])} if split == "val" else set()
            pairs, previous = self._evaluation_length(rng, length, previous, seen)
            chosen += pairs
        return chosen

    def setup(self, stage: str | None = None) -> None:
        for split in self.stage_splits(stage):
            if split not in self.datasets:
                pairs = self.strings(split)
                self.datasets[split] = LabelledSequences([self.pipeline.encode(s) for s, _ in pairs],
                                                         [label for _, label in pairs], [s for s, _ in pairs])

    def describe(self, model: L.LightningModule | None = None) -> str:
        lines = [f"Tomita grammar {self.grammar}"]
        for split in ("train", "val", "test"):
            pairs = self.strings(split)
            accepted = sum(label for _, label in pairs)
            lengths = [len(s) for s, _ in pairs]
            lines.append(f"{split}: {len(pairs)} strings ({accepted} accepted), length {min(lengths)} .. {max(lengths)}")
        return "\n".join(lines)
