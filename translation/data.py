"""Parallel text: a folder of `{split}.{lang}[.gz]` files -> prepared splits on disk -> length-bucketed batches."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import Dataset

from captra.common.data.batching import already_collated
from captra.common.data.encoding import default_num_proc
from captra.common.data.stats import column_summary
from captra.common.data.datamodule import SplitDataModule
from captra.common.data.prepared_folder import default_cache_dir
from captra.common.text.pipeline import TextPipeline, TokenizerKind
from captra.common.text.files import LineReader
from captra.common.text.vocab import BOS_ID, EOS_ID
from captra.translation.corpus import CorpusSpec, PreparedCorpus, PreparedSplit, parallel_lines, split_path

log = logging.getLogger(__name__)


class ParallelDataset(Dataset):
    """The pairs `rows` (line numbers) of a prepared split, in this order; a batch is read out of the prepared files
    in one call (`__getitems__`), so no Python object is held per pair."""

    def __init__(self, split: PreparedSplit, rows: np.ndarray) -> None:
        self.split, self.rows = split, rows

    def __len__(self) -> int:
        return len(self.rows)

    @cached_property
    def lengths(self) -> np.ndarray:
        """(N,) target lengths with <s> and </s>: what training batches are bucketed by."""
        return self.split.columns["tgt"].lengths[self.rows] + 2

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        """A batch: ids (B,) line numbers, src (B, S), src_lengths (B,), tgt (B, T) with <s> </s>, references [[str]]."""
        rows = self.rows[np.asarray(indices, dtype=np.int64)]
        columns = self.split.columns
        return {
            "ids": torch.from_numpy(rows.astype(np.int64)),
            "src": columns["src"].padded(rows),
            "src_lengths": torch.from_numpy(np.maximum(1, columns["src"].lengths[rows]).astype(np.int64)),
            "tgt": columns["tgt"].padded(rows, prefix=(BOS_ID,), suffix=(EOS_ID,)),
            "references": [[reference] for reference in columns["reference"].strings(rows)],
        }


class TranslationDataModule(SplitDataModule):
    """Multi30k-style parallel text: `train.en.gz`, `val.de`, `test_2016_flickr.en.gz`, ...

    Each split is tokenized once into flat id arrays under `cache_dir` (keyed by the files and the
    tokenizer settings; `captra prepare -c CONFIG` does it ahead of training) and every run, resume and DDP
    rank reads those: a corpus of millions of pairs costs about the memory of a small one.

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
        cache_dir: where prepared corpora live (default: $XDG_CACHE_HOME/captra, i.e. ~/.cache/captra); on a
            cluster, a folder on a filesystem every node sees, so the corpus is prepared once for all of them.
        num_proc: processes that tokenize a corpus being prepared (default: the cores this process may use).
        spm_sample: the tokenizers are fitted on a seeded random sample of at most this many training pairs
            (all of them when the corpus is smaller), as sentencepiece's input_sentence_size.
    """

    collate_fn = staticmethod(already_collated)

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
        cache_dir: str | None = None,
        num_proc: int | None = None,
        spm_sample: int = 2_000_000,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.val_split, self.test_split = val_split, test_split
        self.tokenizer, self.vocab_size, self.min_freq, self.lowercase = tokenizer, vocab_size, min_freq, lowercase
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.max_length, self.num_workers, self.seed = max_length, num_workers, seed
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.num_proc = num_proc or default_num_proc()
        self.spm_sample = spm_sample
        self.datasets: dict[str, ParallelDataset] = {}

    # --- files ----------------------------------------------------------------------------
    def path(self, split: str, lang: str) -> Path:
        return split_path(self.data_dir, split, lang)

    def read_split(self, split: str) -> tuple[list[str], list[str]]:
        """Source and target lines of a split; refuses files whose line counts differ."""
        pairs = list(parallel_lines(LineReader(self.path(split, self.src_lang)), LineReader(self.path(split, self.tgt_lang))))
        return [source for source, _ in pairs], [target for _, target in pairs]

    # --- the prepared corpus ----------------------------------------------------------------
    @cached_property
    def corpus(self) -> PreparedCorpus:
        """The prepared tokenizers (fitted on first use) and splits of this configuration."""
        return PreparedCorpus(CorpusSpec(self.data_dir, (self.src_lang, self.tgt_lang), self.tokenizer, self.vocab_size,
                                         self.min_freq, self.lowercase, self.spm_sample, self.cache_dir, self.num_proc))

    @property
    def pipelines(self) -> dict[str, TextPipeline]:
        """Tokenizers + vocabularies fitted on the training split (prepared once, read by every rank)."""
        return self.corpus.pipelines

    @property
    def text(self) -> dict[str, dict]:
        """Plain-data vocabularies for the model (linked by `captra fit`), each with its language (which
        language-specific scoring, e.g. Moses-tokenized BLEU, needs)."""
        languages = {"src": self.src_lang, "tgt": self.tgt_lang}
        return {side: {**pipeline.to_state(), "language": languages[side]} for side, pipeline in self.pipelines.items()}

    # --- datasets -------------------------------------------------------------------------
    def training_rows(self, split: PreparedSplit) -> tuple[np.ndarray, int, int]:
        """The pairs training uses (line numbers), and how many were dropped with a blank side and how many for
        more than `max_length` tokens on a side — decided from the prepared lengths alone."""
        src, tgt = split.columns["src"].lengths, split.columns["tgt"].lengths
        blank = np.asarray(split.blank("src")) | np.asarray(split.blank("tgt"))
        too_long = ~blank & (np.maximum(src, tgt) > self.max_length)
        return np.flatnonzero(~blank & ~too_long), int(blank.sum()), int(too_long.sum())

    def build_dataset(self, split_name: str, train: bool) -> ParallelDataset:
        split = self.corpus.prepare_split(split_name)
        if not train:  # decode similar lengths together; ids keep the order
            return ParallelDataset(split, np.argsort(split.columns["src"].lengths, kind="stable"))
        rows, blank, too_long = self.training_rows(split)
        if blank or too_long:
            log.warning("%s: dropped %d pairs with an empty side and %d longer than %d tokens; %d remain",
                        split_name, blank, too_long, self.max_length, len(rows))
        return ParallelDataset(split, rows)

    def setup(self, stage: str | None = None) -> None:
        for split in self.stage_splits(stage):
            if split not in self.datasets:
                self.datasets[split] = self.build_dataset(split, train=split == "train")

    def describe(self, model: L.LightningModule | None = None) -> str:
        """Prepare every configured split and describe it (`captra prepare`); the model is not needed."""
        lines = [f"prepared corpus: {self.corpus.folder}",
                 f"tokenizers: {self.tokenizer}, fitted on {self.corpus.tokenizer_meta['sampled']:,} of "
                 f"{self.corpus.tokenizer_meta['pairs']:,} training pairs"]
        for name in dict.fromkeys(["train", self.val_split, self.test_split]):
            split = self.corpus.prepare_split(name)
            lines.append(f"{name}: {len(split):,} pairs ({split.meta['files'][0]}, {split.meta['files'][1]})")
            rows = np.arange(len(split))
            if name == "train":
                rows, blank, too_long = self.training_rows(split)
                lines.append(f"  kept {len(rows):,}, dropped {blank + too_long:,}: {blank:,} with an empty side, "
                             f"{too_long:,} longer than {self.max_length} tokens (data.max_length)")
            for side, lang in (("src", self.src_lang), ("tgt", self.tgt_lang)):
                column = split.columns[side]
                lines.append(column_summary(lang, split.meta["columns"][side], column.lengths[rows]))
        return "\n".join(lines)
