"""Captioning data: images (or their cached CNN features) with captions -> batches.

Training sees every caption (one example per caption, batches bucketed by caption length), or, for a model that
needs all references of an image in one example (self-critical training), every image once with all of them;
validation and test see every image once, scored against all of its references.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor
from torch.utils.data import Dataset

from captra.captioning.corpus import CaptionedImage, read_flickr8k, read_karpathy
from captra.captioning.encoder import ImageEncoder
from captra.captioning.features import FeatureStore, cached_features, default_cache_dir
from captra.captioning.images import image_transform, load_image
from captra.common.batching import pad
from captra.common.datamodule import SplitDataModule
from captra.common.text import TextPipeline
from captra.common.textfile import DataError
from captra.common.vocab import BOS_ID, EOS_ID

log = logging.getLogger(__name__)


@dataclass
class CaptionExample:
    id: int  # training: caption number (image number when per image); evaluation: image number in the split
    row: int  # image number in the split
    tgt: list[int]  # <s> caption ids </s>
    references: list[str]  # normalised reference captions (evaluation; training per image)


class ImageFiles:
    """Row -> transformed image tensor (3, H, W), read from disk each time (fine-tuning, augmentation)."""

    def __init__(self, paths: list[Path], transform: Callable) -> None:
        self.paths, self.transform = paths, transform

    def __getitem__(self, row: int) -> Tensor:
        return self.transform(load_image(self.paths[row]))


@dataclass
class CaptionItems:
    """A batch's examples with their image inputs already stacked, (B, ...)."""

    examples: list[CaptionExample]
    inputs: Tensor
    input_name: str  # "features" | "images"


class CaptionDataset(Dataset):
    """Examples with their image input: `images` from files or `features` from the cache."""

    def __init__(self, examples: list[CaptionExample], source: FeatureStore | ImageFiles) -> None:
        self.examples, self.source = examples, source
        self.input_name = "features" if isinstance(source, FeatureStore) else "images"

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> tuple[CaptionExample, Tensor, str]:
        example = self.examples[index]
        return example, self.source[example.row], self.input_name

    def __getitems__(self, indices: list[int]) -> CaptionItems:
        """A whole batch at once (DataLoader asks so): cached features are one copy out of the memory map."""
        examples = [self.examples[index] for index in indices]
        rows = [example.row for example in examples]
        if isinstance(self.source, FeatureStore):
            inputs = self.source.rows(rows)  # (B, S, C)
        else:
            inputs = torch.stack([self.source[row] for row in rows])  # (B, 3, H, W)
        return CaptionItems(examples, inputs, self.input_name)


def collate(items: CaptionItems) -> dict[str, Any]:
    """A batch read by `CaptionDataset.__getitems__` -> ids (B,), images (B, 3, H, W) or features (B, S, C),
    tgt (B, T), references [[str]]."""
    return {
        "ids": torch.tensor([e.id for e in items.examples], dtype=torch.long),
        items.input_name: items.inputs,
        "tgt": pad([e.tgt for e in items.examples]),
        "references": [e.references for e in items.examples],
    }


class CaptioningDataModule(SplitDataModule):
    """Flickr8k files, or any Karpathy split JSON (Flickr8k / Flickr30k / COCO).

    Args:
        data_dir: folder with `Flickr8k.token.txt` and the `Flickr_8k.*Images.txt` split lists.
        annotations: a Karpathy split JSON instead of the Flickr8k files (e.g. dataset_coco.json).
        image_dir: where the images are (default: `data_dir/images`, else `data_dir`).
        val_split: split for validation BLEU, checkpointing and early stopping.
        test_split: split for `captra test` / `predict`.
        min_freq: words seen fewer times in the training captions become <unk>.
        max_length: training captions with more words than this are dropped.
        batch_size: training captions per batch (per device).
        eval_batch_size: images per batch for validation / test / predict.
        num_workers: DataLoader worker processes that decode images (also used to build the feature cache).
            Loaders over cached features read in the main process: a batch is one copy out of the memory
            map, and handing a 13 MB batch between processes costs more than reading it (5x slower, measured).
        cache_dir: feature cache folder (default: $XDG_CACHE_HOME/captra/features).
        cache_features: with a frozen encoder, read cached region features (else run the CNN every step).
        seed: seed of the batch order.
    The image encoder (and so whether features are cached) comes from the model: `captra fit` attaches it.
    """

    collate_fn = staticmethod(collate)

    def __init__(
        self,
        data_dir: str = "../shared/data/flickr8k",
        annotations: str | None = None,
        image_dir: str | None = None,
        val_split: str = "val",
        test_split: str = "test",
        min_freq: int = 5,
        max_length: int = 50,
        batch_size: int = 64,
        eval_batch_size: int = 100,
        num_workers: int = 2,
        cache_dir: str | None = None,
        cache_features: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.annotations = Path(annotations) if annotations else None
        default_images = self.data_dir / "images"
        self.image_dir = Path(image_dir) if image_dir else (default_images if default_images.is_dir() else self.data_dir)
        self.val_split, self.test_split = val_split, test_split
        self.min_freq, self.max_length = min_freq, max_length
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.cache_features = cache_features
        self.seed = seed
        self.encoder: ImageEncoder | None = None
        self.train_per_image = False  # one training example per image with all its references (set from the model)
        self.datasets: dict[str, CaptionDataset] = {}

    # --- corpus and vocabulary ------------------------------------------------------------
    def read_split(self, split: str) -> list[CaptionedImage]:
        if self.annotations is not None:
            return read_karpathy(self.annotations, split, self.image_dir)
        return read_flickr8k(self.data_dir, split, self.image_dir)

    @cached_property
    def pipelines(self) -> dict[str, TextPipeline]:
        """The caption vocabulary, from the training captions (deterministic on every rank)."""
        captions = [c for image in self.read_split("train") for c in image.captions]
        if not captions:
            raise DataError(f"{self.annotations or self.data_dir}: the training split has no captions")
        return {"tgt": TextPipeline.build(captions, kind="word", vocab_size=1_000_000, min_freq=self.min_freq)}

    @property
    def text(self) -> dict[str, dict]:
        """Plain-data vocabulary for the model (linked by `captra fit`)."""
        return {side: pipeline.to_state() for side, pipeline in self.pipelines.items()}

    # --- image inputs ---------------------------------------------------------------------
    def attach(self, encoder: ImageEncoder) -> None:
        """Use this encoder's input spec; a frozen one gets cached features instead of images."""
        self.encoder = encoder

    def _attach_from_trainer(self) -> None:
        """The encoder (unless attached by hand) and the kind of training examples come from the trained model."""
        if self.trainer is not None:
            self.train_per_image = bool(getattr(self.trainer.lightning_module, "needs_all_references", False))
        if self.encoder is None:
            if self.trainer is None or not isinstance(getattr(self.trainer.lightning_module, "encoder", None), ImageEncoder):
                raise RuntimeError("CaptioningDataModule needs an image encoder: use it with a CaptioningModule")
            self.attach(self.trainer.lightning_module.encoder)

    @property
    def uses_cache(self) -> bool:
        return self.encoder is not None and self.encoder.frozen and self.cache_features

    @property
    def loader_workers(self) -> int:
        return 0 if self.uses_cache else self.num_workers

    def _source(self, split: str, paths: list[Path]) -> tuple[FeatureStore | ImageFiles, dict[int, str]]:
        """The image input of a split and the unreadable images {row: reason}."""
        assert self.encoder is not None
        if self.uses_cache:
            store = cached_features(self.encoder, paths, self.cache_dir, self.eval_batch_size, self.num_workers)
            return store, store.bad
        bad = {}
        for row, path in enumerate(paths):  # fail early, by name, rather than inside a worker
            try:
                load_image(path)
            except DataError as error:
                bad[row] = str(error)
        return ImageFiles(paths, image_transform(self.encoder.spec, augment=split == "train")), bad

    def prepare_data(self) -> None:
        """Build the feature caches once (on the first process of each node)."""
        self._attach_from_trainer()
        if self.uses_cache:
            for split in self.stage_splits(self.trainer.state.fn.value if self.trainer else "fit"):
                cached_features(self.encoder, [i.path for i in self.read_split(split)], self.cache_dir,
                                self.eval_batch_size, self.num_workers)

    def build_dataset(self, split: str) -> CaptionDataset:
        images = self.read_split(split)
        source, bad = self._source(split, [image.path for image in images])
        for reason in list(bad.values())[:20]:
            log.warning("skipped image: %s", reason)
        if bad:
            log.warning("%s: skipped %d unreadable images of %d", split, len(bad), len(images))
        text = self.pipelines["tgt"]
        examples: list[CaptionExample] = []
        too_long = 0
        for row, image in enumerate(images):
            if row in bad or not image.captions:
                continue
            if split != "train" or self.train_per_image:
                examples.append(CaptionExample(row, row, [BOS_ID, *text.encode(image.captions[0]), EOS_ID], image.captions))
                continue
            for caption in image.captions:
                ids = text.encode(caption)
                if len(ids) > self.max_length:
                    too_long += 1
                    continue
                examples.append(CaptionExample(len(examples), row, [BOS_ID, *ids, EOS_ID], []))
        if too_long:
            log.warning("%s: dropped %d captions longer than %d words", split, too_long, self.max_length)
        if not examples:
            raise DataError(f"{self.annotations or self.data_dir}: split {split!r} has no usable images with captions")
        return CaptionDataset(examples, source)

    def setup(self, stage: str | None = None) -> None:
        self._attach_from_trainer()
        for split in self.stage_splits(stage):
            if split not in self.datasets:
                self.datasets[split] = self.build_dataset(split)
