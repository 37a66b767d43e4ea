"""Labelled sentences from one file per split, `<label> <sentence>` per line (SST-2's stsa.binary.* files, or any
folder of `{split}.txt`) -> a LightningDataModule for the classifier."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import lightning as L

from captra.common.data.batching import already_collated
from captra.common.data.datamodule import SplitDataModule
from captra.common.text.files import DataError, read_lines
from captra.common.text.pipeline import TextPipeline
from captra.classification.dataset import LabelledSequences
from captra.classification.labels import LABEL_SIDE, label_state

Example = tuple[int, str]  # (class, sentence)


def read_examples(path: Path) -> list[Example]:
    """(class, sentence) of every line of `path`; a line that is not `<class number> <sentence>` is a DataError
    naming the file and line."""
    examples = []
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split(None, 1)
        if not fields:
            raise DataError(f"{path}:{number}: empty line (expected '<label> <sentence>')")
        if not fields[0].isdigit():
            raise DataError(f"{path}:{number}: label {fields[0]!r} is not a class number (0, 1, 2, ...)")
        if len(fields) == 1:
            raise DataError(f"{path}:{number}: label {fields[0]} without a sentence")
        examples.append((int(fields[0]), fields[1].strip()))
    return examples


class SentenceClassificationDataModule(SplitDataModule):
    """Sentences and their classes, one file per split; words are tokenized and the vocabulary fitted on train.

    Classes are 0 .. K-1, K one more than the largest class of the training split; a validation or test class
    outside that range is an error. Words unseen in training become <unk>.

    Args:
        data_dir: folder of the split files.
        file_pattern: a split's file name, `{split}` standing for the split's name ("stsa.binary.{split}",
            "{split}.txt").
        train_split, val_split, test_split: the splits' names.
        label_names: names of the classes 0 .. K-1 (e.g. [negative, positive]); default: the class numbers.
        lowercase: lowercase the sentences before tokenizing.
        min_freq: words seen fewer times in training become <unk>.
        vocab_size: at most this many vocabulary entries (specials included), most frequent first.
        batch_size: training sentences per batch (per device), bucketed by length.
        eval_batch_size: sentences per batch for validation and test.
        num_workers: DataLoader worker processes.
        seed: seeds the batch order.
    """

    collate_fn = staticmethod(already_collated)

    def __init__(
        self,
        data_dir: str = "../shared/data/sst2",
        file_pattern: str = "stsa.binary.{split}",
        train_split: str = "train",
        val_split: str = "dev",
        test_split: str = "test",
        label_names: list[str] | None = None,
        lowercase: bool = True,
        min_freq: int = 1,
        vocab_size: int = 50_000,
        batch_size: int = 32,
        eval_batch_size: int = 128,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if "{split}" not in file_pattern:
            raise ValueError(f"data.file_pattern {file_pattern!r} must contain {{split}}")
        self.data_dir, self.file_pattern, self.train_split = Path(data_dir), file_pattern, train_split
        self.val_split, self.test_split = val_split, test_split
        self.label_names, self.lowercase, self.min_freq, self.vocab_size = label_names, lowercase, min_freq, vocab_size
        self.batch_size, self.eval_batch_size, self.num_workers, self.seed = batch_size, eval_batch_size, num_workers, seed
        self.datasets: dict[str, LabelledSequences] = {}
        self.length_buckets = (1, 11, 21, 31)  # the report's accuracy by sentence length: 1-10, 11-20, 21-30, 31+

    def path(self, split: str) -> Path:
        return self.data_dir / self.file_pattern.format(split=split)

    @cached_property
    def train_examples(self) -> list[Example]:
        return read_examples(self.path(self.train_split))

    @cached_property
    def pipeline(self) -> TextPipeline:
        """Word tokens, the vocabulary fitted on the training sentences."""
        return TextPipeline.build((sentence for _, sentence in self.train_examples), kind="word",
                                  vocab_size=self.vocab_size, min_freq=self.min_freq, lowercase=self.lowercase)

    @cached_property
    def classes(self) -> list[str]:
        """The class names, class k at index k."""
        count = 1 + max(label for label, _ in self.train_examples)
        if self.label_names is None:
            return [str(k) for k in range(count)]
        if len(self.label_names) < count:
            raise DataError(f"data.label_names names {len(self.label_names)} classes, but {self.path(self.train_split)} "
                            f"has classes up to {count - 1}")
        return list(self.label_names)

    @property
    def text(self) -> dict[str, dict]:
        return {"src": self.pipeline.to_state(), LABEL_SIDE: label_state(self.classes)}

    def dataset(self, split: str) -> LabelledSequences:
        path = self.path(split)
        examples = self.train_examples if split == self.train_split else read_examples(path)
        for number, (label, _) in enumerate(examples, start=1):
            if label >= len(self.classes):
                raise DataError(f"{path}:{number}: class {label} is not among the training classes 0 .. "
                                f"{len(self.classes) - 1}")
        ids = [self.pipeline.encode(sentence) for _, sentence in examples]
        return LabelledSequences(ids, [label for label, _ in examples], [sentence for _, sentence in examples])

    def setup(self, stage: str | None = None) -> None:
        for split in self.stage_splits(stage):
            if split not in self.datasets:
                key = "train" if split == self.train_split else split
                self.datasets[key] = self.dataset(split)

    def describe(self, model: L.LightningModule | None = None) -> str:
        lines = [f"{len(self.pipeline.vocab)} word types (specials included), classes {', '.join(self.classes)}"]
        for split in (self.train_split, self.val_split, self.test_split):
            data = self.dataset(split)
            counts = [data.labels.count(k) for k in range(len(self.classes))]
            lines.append(f"{split}: {len(data)} sentences, {int(data.lengths.sum())} tokens, per class {counts}")
        return "\n".join(lines)
