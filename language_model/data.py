"""A plain text file as a language model's splits: its first characters for training, the rest for validation (and
test), each one token stream cut into windows (language_model/stream.py)."""

from __future__ import annotations

import logging
import math
from functools import cached_property
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from captra.common.data.batching import already_collated, resumable_train_loader
from captra.common.data.datamodule import SplitDataModule
from captra.common.text.files import DataError, LineReader
from captra.common.text.pipeline import TextPipeline, TokenizerKind
from captra.language_model.report import sample_sections
from captra.language_model.stream import StreamBatchSampler, StreamWindows

log = logging.getLogger(__name__)


class TextStreamDataModule(SplitDataModule):
    """One text file, split by characters: the first `1 - val_fraction - test_fraction` for training, then
    validation, then test (tiny Shakespeare's usual split: the first 90 % and the last 10 %).

    With `test_fraction` 0 the test split is the validation split (nanoGPT's and char-rnn's tiny-Shakespeare
    numbers are on those last 10 %); give it a share for a test split that selection never saw.

    Args:
        data_dir: folder holding the text file.
        file: the UTF-8 text file (.gz read as gzip).
        tokenizer: char (every character, newlines included), word or sentencepiece (fitted on the training
            part; these two read the text line by line and drop the line breaks).
        vocab_size: the vocabulary's size at most, specials included (char: the training part's most frequent
            characters; the default keeps them all).
        lowercase: lowercase the text first.
        val_fraction: share of the characters, at the end of the file (before the test share), for validation.
        test_fraction: share at the very end for the test split; 0: test on the validation split.
        window: tokens each window predicts (the truncated-BPTT length; char-rnn's seq_length).
        carry_state: training windows continue each other row by row and the model carries its state across
            them (char-rnn); false: windows in a random order, each from the start state.
        batch_size: training windows per batch (per device): with carry_state, the rows the training part is cut into.
        eval_batch_size: rows validation and test cut their part into (each read with the state carried).
        num_workers: DataLoader worker processes.
        seed: seed of the window order (carry_state false).
    """

    collate_fn = staticmethod(already_collated)

    def __init__(
        self,
        data_dir: str = "../shared/data/tinyshakespeare",
        file: str = "input.txt",
        tokenizer: TokenizerKind = "char",
        vocab_size: int = 8000,
        lowercase: bool = False,
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        window: int = 100,
        carry_state: bool = True,
        batch_size: int = 32,
        eval_batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not (0 < val_fraction and 0 <= test_fraction and val_fraction + test_fraction < 1):
            raise ValueError(f"val_fraction {val_fraction} and test_fraction {test_fraction}: each share in [0, 1), "
                             "validation's above 0, together below 1")
        self.path = Path(data_dir) / file
        self.tokenizer, self.vocab_size, self.lowercase = tokenizer, vocab_size, lowercase
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.window, self.carry_state = window, carry_state
        self.batch_size, self.eval_batch_size, self.num_workers, self.seed = batch_size, eval_batch_size, num_workers, seed
        self.val_split = "val"
        self.test_split = "test" if test_fraction > 0 else "val"
        self.datasets: dict[str, StreamWindows] = {}

    # --- text ------------------------------------------------------------------------------
    @cached_property
    def texts(self) -> dict[str, str]:
        """The file's text by split."""
        lines = list(LineReader(self.path))
        text = "".join(line + "\n" for line in lines)
        if not text.strip():
            raise DataError(f"{self.path}: no text")
        val_start = int(len(text) * (1 - self.val_fraction - self.test_fraction))
        test_start = int(len(text) * (1 - self.test_fraction))
        splits = {"train": text[:val_start], "val": text[val_start:test_start]}
        if self.test_fraction > 0:
            splits["test"] = text[test_start:]
        return splits

    def split_text(self, split: str) -> str:
        if split not in self.texts:
            raise DataError(f"{self.path}: no split {split!r}; this data module has {', '.join(self.texts)}")
        return self.texts[split]

    @cached_property
    def pipeline(self) -> TextPipeline:
        """Tokenizer + vocabulary fitted on the training part."""
        train = self.split_text("train")
        units = [train] if self.tokenizer == "char" else train.splitlines()
        return TextPipeline.build(units, kind=self.tokenizer, vocab_size=self.vocab_size, lowercase=self.lowercase)

    @property
    def text(self) -> dict[str, dict]:
        """The model's vocabulary (linked by `captra fit`): what it reads and writes is "tgt"."""
        return {"tgt": self.pipeline.to_state()}

    def stream(self, split: str) -> tuple[np.ndarray, float]:
        """(N,) the split's token ids, and its characters per token."""
        text = self.split_text(split)
        if self.tokenizer == "char":
            ids = self.pipeline.encode(text)
        else:
            ids = [token for line in self.pipeline.encode_batch(text.splitlines()) for token in line]
        if len(ids) < 2:
            raise DataError(f"{self.path}: split {split} holds {len(ids)} tokens; a language model needs at least 2")
        return np.asarray(ids, dtype=np.int64), len(text) / len(ids)

    # --- datasets and loaders ---------------------------------------------------------------
    def training_rows(self) -> int:
        """Rows the training stream is cut into: the global batch with carry_state, else one."""
        world = self.trainer.world_size if self.trainer is not None else 1
        return self.batch_size * world if self.carry_state else 1

    def setup(self, stage: str | None = None) -> None:
        for split in self.stage_splits(stage):
            if split not in self.datasets:
                stream, chars = self.stream(split)
                rows = self.training_rows() if split == "train" else max(1, min(self.eval_batch_size, len(stream) // 2))
                if len(stream) < rows * 2:
                    raise DataError(f"{self.path}: split {split} holds {len(stream)} tokens, too few for {rows} rows "
                                    "of two tokens or more (data.batch_size per process)")
                carried = self.carry_state or split != "train"  # evaluation always reads rows in order
                self.datasets[split] = StreamWindows(stream, rows, self.window, chars, carried)

    def train_dataloader(self) -> DataLoader:
        if not self.carry_state:
            return super().train_dataloader()  # windows in a random order, each from the start state
        dataset = self.datasets["train"]
        return resumable_train_loader(dataset, StreamBatchSampler(dataset), self.collate_fn, self.loader_workers,
                                      self.trainer, self.pin_memory)

    def _eval_loader(self, split: str) -> DataLoader:
        dataset = self.datasets[split]
        return DataLoader(dataset, batch_sampler=StreamBatchSampler(dataset), collate_fn=self.collate_fn,
                          num_workers=self.loader_workers, pin_memory=self.pin_memory)

    def describe(self, model: L.LightningModule | None = None) -> str:
        """What each split holds (`captra prepare`)."""
        lines = [f"{self.path}: {self.tokenizer} tokens, vocabulary of {len(self.pipeline.vocab)}"]
        for split in dict.fromkeys(["train", self.val_split, self.test_split]):
            stream, chars = self.stream(split)
            lines.append(f"{split}: {len(self.split_text(split)):,} characters, {len(stream):,} tokens "
                         f"({chars:.2f} characters per token), about {math.ceil(len(stream) / self.window):,} "
                         f"windows of {self.window}")
        return "\n".join(lines)

    # --- the report ---------------------------------------------------------------------------
    def report_sections(self, module: Any, split: str, device: torch.device) -> list[Any]:
        return sample_sections(module, self, split, device)
