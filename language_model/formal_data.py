"""Strings of a formal language as a language model's splits, generated in memory from a seed (no files)."""

from __future__ import annotations

import random
from functools import cached_property
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import Dataset

from captra.common.data.batching import already_collated, pad
from captra.common.data.datamodule import SplitDataModule
from captra.common.text.pipeline import TextPipeline
from captra.common.text.tokenizers import CharTokenizer
from captra.common.text.vocab import BOS_ID, EOS_ID, SPECIALS, Vocabulary
from captra.language_model import formal
from captra.language_model.report import formal_sections
from captra.language_model.formal import END, Language, LanguageName


class FormalStrings(Dataset):
    """Strings of one language with, per predicted position, the legal next symbols and whether it is scored."""

    def __init__(self, strings: list[list[str]], lang: Language, vocab: Vocabulary) -> None:
        self.strings, self.language, self.vocab = strings, lang, vocab

    def __len__(self) -> int:
        return len(self.strings)

    @cached_property
    def lengths(self) -> np.ndarray:
        """(N,) lengths with <s> and </s>: what training batches are bucketed by."""
        return np.asarray([len(string) + 2 for string in self.strings], dtype=np.int64)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        """A batch: tgt (B, T) <s> symbols </s>; legal (B, T-1, V) and scored (B, T-1) for the predictions of
        tgt[:, 1:]; size (B,) each string's n (its length for the Reber grammars); ids (B,)."""
        strings = [self.strings[int(i)] for i in indices]
        tgt = pad([[BOS_ID, *self.vocab.encode(string), EOS_ID] for string in strings])  # (B, T)
        legal = torch.zeros(len(strings), tgt.size(1) - 1, len(self.vocab), dtype=torch.bool)
        scored = torch.zeros(len(strings), tgt.size(1) - 1, dtype=torch.bool)
        for row, string in enumerate(strings):
            options = self.language.legal(string)
            assert options is not None, f"generated {''.join(string)!r} outside {self.language.name}"
            for position, symbols in enumerate(options):
                legal[row, position, [EOS_ID if s == END else self.vocab.stoi[s] for s in symbols]] = True
            scored[row, : len(options)] = torch.tensor(self.language.scored(options))
        return {"ids": torch.tensor([int(i) for i in indices]), "tgt": tgt, "legal": legal, "scored": scored,
                "size": torch.tensor([self.language.size(string) for string in strings])}


class FormalLanguageDataModule(SplitDataModule):
    """Reber, embedded Reber, a^n b^n or a^n b^n c^n strings, generated from `seed`.

    The counting languages train on n drawn uniformly from 1 .. train_max_n, validate on every n of that range and
    test on every n from 1 to test_max_n (one string each: the string of size n is unique): how far past its
    training sizes a network still predicts every determined symbol. The Reber grammars train, validate and
    test on fresh random walks (each branch with probability 1/2) of any length.

    Args:
        language: reber, embedded_reber, anbn or anbncn.
        train_max_n: the largest n trained on (counting languages).
        test_max_n: the test split holds n = 1 .. test_max_n (counting languages).
        train_size: training strings per epoch.
        eval_size: validation and test strings (Reber grammars).
        batch_size: training strings per batch (per device).
        eval_batch_size: strings per batch for validation and test.
        num_workers: DataLoader worker processes.
        seed: seeds the strings and the batch order.
    """

    collate_fn = staticmethod(already_collated)

    def __init__(
        self,
        language: LanguageName = "anbn",
        train_max_n: int = 10,
        test_max_n: int = 100,
        train_size: int = 2000,
        eval_size: int = 500,
        batch_size: int = 32,
        eval_batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.language = language
        self.lang = formal.language(language)
        self.train_max_n, self.test_max_n, self.train_size, self.eval_size = train_max_n, test_max_n, train_size, eval_size
        self.batch_size, self.eval_batch_size, self.num_workers, self.seed = batch_size, eval_batch_size, num_workers, seed
        self.val_split, self.test_split = "val", "test"
        self.datasets: dict[str, FormalStrings] = {}

    @cached_property
    def pipeline(self) -> TextPipeline:
        """One character per symbol."""
        return TextPipeline(CharTokenizer(), Vocabulary([*SPECIALS, *self.lang.symbols]))

    @property
    def text(self) -> dict[str, dict]:
        return {"tgt": self.pipeline.to_state()}

    def strings(self, split: str) -> list[list[str]]:
        """The split's strings, the same for every process and run of this seed."""
        rng = random.Random(f"{self.seed}/{self.language}/{split}")
        counting = not self.lang.choices_scored
        if split == "train":
            return [self.lang.generate(rng, rng.randint(1, self.train_max_n)) for _ in range(self.train_size)]
        if counting:
            top = self.train_max_n if split == "val" else self.test_max_n
            return [self.lang.generate(rng, n) for n in range(1, top + 1)]
        return [self.lang.generate(rng, 0) for _ in range(self.eval_size)]

    def setup(self, stage: str | None = None) -> None:
        for split in self.stage_splits(stage):
            if split not in self.datasets:
                self.datasets[split] = FormalStrings(self.strings(split), self.lang, self.pipeline.vocab)

    def describe(self, model: L.LightningModule | None = None) -> str:
        lines = [f"{self.language}: symbols {' '.join(self.lang.symbols)}"]
        for split in ("train", "val", "test"):
            sizes = [self.lang.size(string) for string in self.strings(split)]
            lines.append(f"{split}: {len(sizes)} strings, size {min(sizes)} .. {max(sizes)}")
        return "\n".join(lines)

    def report_sections(self, module: Any, split: str, device: torch.device) -> list[Any]:
        return formal_sections(module, self, split, device)

