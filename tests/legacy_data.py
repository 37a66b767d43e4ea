"""The data path captra had before corpora were prepared on disk (commit 8706656), kept as the oracle of the tests
that prove the prepared path gives the same batches, in the same order, and so the same weights: tokenizers fitted
on every training pair held in Python lists, one Python object per example, batches cut from Python lists."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterator

import torch
from torch.utils.data import Dataset

from captra.captioning.data import CaptioningDataModule
from captra.common.data.batching import BucketBatchSampler, EpochRandomSampler, ResumableDataLoader, pad
from captra.common.text.pipeline import TextPipeline
from captra.common.text.vocab import BOS_ID, EOS_ID
from captra.translation.data import TranslationDataModule


class LegacyBucketBatchSampler(BucketBatchSampler):
    def __iter__(self) -> Iterator[list[int]]:
        rank, world = self._world()
        size = self.batch_size * world
        indices = list(self.sampler)
        batches: list[list[int]] = []
        for start in range(0, len(indices), size * self.pool_factor):
            pool = sorted(indices[start : start + size * self.pool_factor], key=lambda i: self.lengths[i])
            batches.extend(pool[i : i + size] for i in range(0, len(pool), size))
        if self.drop_last:
            batches = [batch for batch in batches if len(batch) == size]
        epoch = getattr(self.sampler, "epoch", self.epoch)
        random.Random(self.seed + epoch).shuffle(batches)
        self.epoch += 1
        skip, self.skip = self.skip, 0
        return iter((batch * world)[: max(len(batch), world)][rank::world] for batch in batches[skip:])


class ExampleDataset(Dataset):
    def __init__(self, examples: list) -> None:
        self.examples = examples
        self.lengths = [len(e.tgt) for e in examples]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Any:
        return self.examples[index]


def legacy_train_loader(data) -> ResumableDataLoader:
    dataset = data.datasets["train"]
    trainer = data.trainer

    def trained_batches() -> int:
        return trainer.fit_loop.epoch_loop.batch_progress.current.processed if trainer is not None else 0

    sampler = LegacyBucketBatchSampler(EpochRandomSampler(dataset, data.seed), data.batch_size, False, dataset.lengths,
                                       seed=data.seed)
    return ResumableDataLoader(dataset, batch_sampler=sampler, collate_fn=data.collate_fn, num_workers=0,
                               trained_batches=trained_batches)


@dataclass
class ParallelExample:
    id: int
    src: list[int]
    tgt: list[int]
    reference: str


def parallel_collate(examples: list[ParallelExample]) -> dict[str, Any]:
    return {
        "ids": torch.tensor([e.id for e in examples], dtype=torch.long),
        "src": pad([e.src for e in examples]),
        "src_lengths": torch.tensor([max(1, len(e.src)) for e in examples], dtype=torch.long),
        "tgt": pad([e.tgt for e in examples]),
        "references": [[e.reference] for e in examples],
    }


class LegacyTranslationData(TranslationDataModule):
    collate_fn = staticmethod(parallel_collate)

    @cached_property
    def pipelines(self) -> dict[str, TextPipeline]:
        src, tgt = self.read_split("train")
        pairs = [(s, t) for s, t in zip(src, tgt) if s.strip() and t.strip()]
        options = dict(kind=self.tokenizer, vocab_size=self.vocab_size, min_freq=self.min_freq, lowercase=self.lowercase)
        return {"src": TextPipeline.build([s for s, _ in pairs], **options),
                "tgt": TextPipeline.build([t for _, t in pairs], **options)}

    def build_dataset(self, split: str, train: bool) -> ExampleDataset:
        src_lines, tgt_lines = self.read_split(split)
        src_text, tgt_text = self.pipelines["src"], self.pipelines["tgt"]
        examples = []
        for line_id, (src_line, tgt_line) in enumerate(zip(src_lines, tgt_lines)):
            if train and not (src_line.strip() and tgt_line.strip()):
                continue
            src, tgt = src_text.encode(src_line), tgt_text.encode(tgt_line)
            if train and max(len(src), len(tgt)) > self.max_length:
                continue
            examples.append(ParallelExample(line_id, src, [BOS_ID, *tgt, EOS_ID], tgt_line))
        if not train:
            examples.sort(key=lambda e: len(e.src))
        return ExampleDataset(examples)

    def prepare_data(self) -> None:
        pass

    def train_dataloader(self) -> ResumableDataLoader:
        return legacy_train_loader(self)


@dataclass
class CaptionExample:
    id: int
    row: int
    tgt: list[int]
    references: list[str]


class CaptionExamples(ExampleDataset):
    def __init__(self, examples: list[CaptionExample], source: Any) -> None:
        super().__init__(examples)
        self.source = source

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        examples = [self.examples[index] for index in indices]
        rows = [e.row for e in examples]
        cached = hasattr(self.source, "rows")
        return {
            "ids": torch.tensor([e.id for e in examples], dtype=torch.long),
            "features" if cached else "images": self.source.rows(rows) if cached else torch.stack([self.source[r] for r in rows]),
            "tgt": pad([e.tgt for e in examples]),
            "references": [e.references for e in examples],
        }


class LegacyCaptioningData(CaptioningDataModule):
    """Captions as Python objects; the image input of a row comes from `_source(split, paths)` as before."""

    @cached_property
    def pipelines(self) -> dict[str, TextPipeline]:
        captions = [c for image in self.read_split("train") for c in image.captions]
        return {"tgt": TextPipeline.build(captions, kind="word", vocab_size=1_000_000, min_freq=self.min_freq)}

    def build_dataset(self, split: str) -> CaptionExamples:
        images = self.read_split(split)
        source, bad = self._source(split, [image.path for image in images])
        text = self.pipelines["tgt"]
        examples = []
        for row, image in enumerate(images):
            if row in bad or not image.captions:
                continue
            if split != "train" or self.train_per_image:
                examples.append(CaptionExample(row, row, [BOS_ID, *text.encode(image.captions[0]), EOS_ID], image.captions))
                continue
            for caption in image.captions:
                ids = text.encode(caption)
                if len(ids) > self.max_length:
                    continue
                examples.append(CaptionExample(len(examples), row, [BOS_ID, *ids, EOS_ID], []))
        return CaptionExamples(examples, source)

    def prepare_data(self) -> None:
        pass

    def train_dataloader(self) -> ResumableDataLoader:
        return legacy_train_loader(self)
