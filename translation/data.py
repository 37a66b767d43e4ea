"""Parallel text: a folder of `{split}.{lang}[.gz]` files -> tokenized, length-bucketed batches."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from captra.common.text import TextPipeline, TokenizerKind
from captra.common.textfile import DataError, read_lines
from captra.common.vocab import BOS_ID, EOS_ID
from captra.common.batching import pad
from captra.common.datamodule import SplitDataModule

log = logging.getLogger(__name__)


@dataclass
class ParallelExample:
    id: int  # line number in the split (0-based)
    src: list[int]  # source ids, no <s> / </s>
    tgt: list[int]  # <s> target ids </s>
    reference: str  # raw target line


class ParallelDataset(Dataset):
    def __init__(self, examples: list[ParallelExample]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> ParallelExample:
        return self.examples[index]


def split_path(data_dir: Path, split: str, lang: str) -> Path:
    """The file of one split and language in a parallel-text folder (`.gz` or plain)."""
    for candidate in (data_dir / f"{split}.{lang}.gz", data_dir / f"{split}.{lang}"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{data_dir / f'{split}.{lang}'}[.gz]: no such file (split {split!r}, language {lang!r})")


def collate(examples: list[ParallelExample]) -> dict[str, Any]:
    """Examples -> ids (B,), src (B, S), src_lengths (B,), tgt (B, T), references [[str]]."""
    return {
        "ids": torch.tensor([e.id for e in examples], dtype=torch.long),
        "src": pad([e.src for e in examples]),
        "src_lengths": torch.tensor([max(1, len(e.src)) for e in examples], dtype=torch.long),
        "tgt": pad([e.tgt for e in examples]),
        "references": [[e.reference] for e in examples],
    }


class TranslationDataModule(SplitDataModule):
    """Multi30k-style parallel text: `train.en.gz`, `val.de`, `test_2016_flickr.en.gz`, ...

    Args:
        data_dir: folder holding `{split}.{lang}` or `{split}.{lang}.gz` files.
        src_lang: source language suffix, e.g. "en".
        tgt_lang: target language suffix, e.g. "de".
        val_split: split used for validation (BLEU, checkpoint selection, early stopping).
        test_split: split used by `captra test` / `predict`.
        tokenizer: "sentencepiece" (subwords trained on the training split) or "word".
        vocab_size: subword vocabulary size, or the word vocabulary's maximum size (per language).
        min_freq: word tokenizer only: drop words seen fewer times than this.
        lowercase: lowercase all text before tokenizing (outputs are then lowercase too).
        batch_size: training sentences per batch (per device).
        eval_batch_size: sentences per batch for validation / test / predict.
        max_length: training pairs with more tokens than this on either side are dropped.
        num_workers: DataLoader worker processes.
        seed: seed of the batch order.
    """

    collate_fn = staticmethod(collate)

    def __init__(
        self,
        data_dir: str = "../shared/data/multi30k",
        src_lang: str = "en",
        tgt_lang: str = "de",
        val_split: str = "val",
        test_split: str = "test_2016_flickr",
        tokenizer: TokenizerKind = "sentencepiece",
        vocab_size: int = 8000,
        min_freq: int = 1,
        lowercase: bool = False,
        batch_size: int = 64,
        eval_batch_size: int = 128,
        max_length: int = 100,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.val_split, self.test_split = val_split, test_split
        self.tokenizer, self.vocab_size, self.min_freq, self.lowercase = tokenizer, vocab_size, min_freq, lowercase
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.max_length, self.num_workers, self.seed = max_length, num_workers, seed
        self.datasets: dict[str, ParallelDataset] = {}

    # --- files ----------------------------------------------------------------------------
    def path(self, split: str, lang: str) -> Path:
        return split_path(self.data_dir, split, lang)

    def read_split(self, split: str) -> tuple[list[str], list[str]]:
        """Source and target lines of a split; refuses files whose line counts differ."""
        src_path, tgt_path = self.path(split, self.src_lang), self.path(split, self.tgt_lang)
        src, tgt = read_lines(src_path), read_lines(tgt_path)
        if len(src) != len(tgt):
            raise DataError(
                f"parallel files differ in length: {src_path} has {len(src)} lines, {tgt_path} has {len(tgt)}"
            )
        return src, tgt

    # --- vocabularies ---------------------------------------------------------------------
    @cached_property
    def pipelines(self) -> dict[str, TextPipeline]:
        """Tokenizers + vocabularies fitted on the training split (deterministic on every rank)."""
        src, tgt = self.read_split("train")
        pairs = [(s, t) for s, t in zip(src, tgt) if s.strip() and t.strip()]
        options = dict(kind=self.tokenizer, vocab_size=self.vocab_size, min_freq=self.min_freq, lowercase=self.lowercase)
        return {
            "src": TextPipeline.build([s for s, _ in pairs], **options),
            "tgt": TextPipeline.build([t for _, t in pairs], **options),
        }

    @property
    def text(self) -> dict[str, dict]:
        """Plain-data vocabularies for the model (linked by `captra fit`), each with its language (which
        language-specific scoring, e.g. Moses-tokenized BLEU, needs)."""
        languages = {"src": self.src_lang, "tgt": self.tgt_lang}
        return {side: {**pipeline.to_state(), "language": languages[side]} for side, pipeline in self.pipelines.items()}

    # --- datasets -------------------------------------------------------------------------
    def build_dataset(self, split: str, train: bool) -> ParallelDataset:
        src_lines, tgt_lines = self.read_split(split)
        src_text, tgt_text = self.pipelines["src"], self.pipelines["tgt"]
        examples, empty, too_long = [], 0, 0
        for line_id, (src_line, tgt_line) in enumerate(zip(src_lines, tgt_lines)):
            if train and not (src_line.strip() and tgt_line.strip()):
                empty += 1
                continue
            src, tgt = src_text.encode(src_line), tgt_text.encode(tgt_line)
            if train and max(len(src), len(tgt)) > self.max_length:
                too_long += 1
                continue
            examples.append(ParallelExample(line_id, src, [BOS_ID, *tgt, EOS_ID], tgt_line))
        if empty or too_long:
            log.warning(
                "%s: dropped %d pairs with an empty side and %d longer than %d tokens; %d remain",
                split, empty, too_long, self.max_length, len(examples),
            )
        if not train:
            examples.sort(key=lambda e: len(e.src))  # decode similar lengths together; ids keep the order
        return ParallelDataset(examples)

    def setup(self, stage: str | None = None) -> None:
        for split in self.stage_splits(stage):
            if split not in self.datasets:
                self.datasets[split] = self.build_dataset(split, train=split == "train")
