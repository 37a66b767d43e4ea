"""Captioning data: images (or their cached CNN features) with captions -> batches.

Training sees every caption (one example per caption, batches bucketed by caption length), or, for a model that
needs all references of an image in one example (self-critical training), every image once with all of them;
validation and test see every image once, scored against all of its references.
"""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from captra.captioning.captions import CaptionSource, PreparedCaptions, PreparedCaptionSplit
from captra.captioning.corpus import CaptionedImage, flickr8k_files, read_flickr8k, read_karpathy
from captra.captioning.encoder import ImageEncoder
from captra.captioning.features import FeatureStore, cached_features
from captra.captioning.images import image_transform, load_image
from captra.common.data.batching import already_collated
from captra.common.data.encoding import default_num_proc
from captra.common.data.stats import column_summary
from captra.common.data.datamodule import SplitDataModule
from captra.common.data.prepared_folder import default_cache_dir
from captra.common.text.pipeline import TextPipeline
from captra.common.text.files import DataError
from captra.common.text.vocab import BOS_ID, EOS_ID

log = logging.getLogger(__name__)


class ImageFiles:
    """Row -> transformed image tensor (3, H, W), read from disk each time (fine-tuning, augmentation)."""

    def __init__(self, paths: list[Path], transform: Callable) -> None:
        self.paths, self.transform = paths, transform

    def __getitem__(self, row: int) -> Tensor:
        return self.transform(load_image(self.paths[row]))


class CaptionDataset(Dataset):
    """Examples of a prepared split, each a caption (`captions`, rows of its caption column) of an image
    (`images`, rows of the split's images) with an id; `with_references`: examples carry all of their image's
    references. The image input is `images` from files or `features` from the cache. A batch is read in one
    call (`__getitems__`): the captions out of their prepared files, cached features in one copy out of their memory map."""

    def __init__(self, split: PreparedCaptionSplit, captions: np.ndarray, images: np.ndarray, ids: np.ndarray,
                 with_references: bool, source: FeatureStore | ImageFiles) -> None:
        self.split, self.captions, self.images, self.ids = split, captions, images, ids
        self.with_references, self.source = with_references, source
        self.input_name = "features" if isinstance(source, FeatureStore) else "images"

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def lengths(self) -> np.ndarray:
        """(N,) caption lengths with <s> and </s>: what training batches are bucketed by."""
        return self.split.columns["caption"].lengths[self.captions] + 2

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        """A batch: ids (B,), images (B, 3, H, W) or features (B, S, C), tgt (B, T) with <s> </s>, references [[str]]."""
        positions = np.asarray(indices, dtype=np.int64)
        images = self.images[positions]
        if isinstance(self.source, FeatureStore):
            inputs = self.source.rows(images.tolist())  # (B, S, C)
        else:
            inputs = torch.stack([self.source[row] for row in images.tolist()])  # (B, 3, H, W)
        references = self.split.references(images) if self.with_references else [[] for _ in indices]
        return {
            "ids": torch.from_numpy(self.ids[positions].astype(np.int64)),
            self.input_name: inputs,
            "tgt": self.split.columns["caption"].padded(self.captions[positions], prefix=(BOS_ID,), suffix=(EOS_ID,)),
            "references": references,
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
        cache_dir: where prepared captions (`corpora/`) and feature caches (`features/`) live (default:
            $XDG_CACHE_HOME/captra, i.e. ~/.cache/captra); on a cluster, a folder every node sees.
        cache_features: with a frozen encoder, read cached region features (else run the CNN every step).
        seed: seed of the batch order.
        num_proc: processes that tokenize captions being prepared (default: the cores this process may use).
    The image encoder (and so whether features are cached) comes from the model: `captra fit` attaches it.
    Captions are prepared once per corpus (`captra prepare -c CONFIG` does it ahead of training, with the
    feature caches); under DDP every rank computes the features of its share of the images into one cache.
    """

    collate_fn = staticmethod(already_collated)

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
        num_proc: int | None = None,
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
        self.num_proc = num_proc or default_num_proc()
        self.encoder: ImageEncoder | None = None
        self.train_per_image = False  # one training example per image with all its references (set from the model)
        self.datasets: dict[str, CaptionDataset] = {}

    # --- corpus and vocabulary ------------------------------------------------------------
    def read_split(self, split: str) -> list[CaptionedImage]:
        if self.annotations is not None:
            return read_karpathy(self.annotations, split, self.image_dir)
        return read_flickr8k(self.data_dir, split, self.image_dir)

    def split_files(self, split: str) -> list[Path]:
        """The annotation files a split is read from."""
        return [self.annotations] if self.annotations is not None else list(flickr8k_files(self.data_dir, split))

    @cached_property
    def captions(self) -> PreparedCaptions:
        """The prepared vocabulary (fitted on first use) and splits of this corpus."""
        source = CaptionSource(self.read_split, self.split_files, self.image_dir, str(self.annotations or self.data_dir))
        return PreparedCaptions(source, self.min_freq, self.cache_dir, self.num_proc)

    @property
    def pipelines(self) -> dict[str, TextPipeline]:
        """The caption vocabulary, from the training captions (prepared once, read by every rank)."""
        return {"tgt": self.captions.pipeline}

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

    def feature_store(self, paths: list[Path]) -> FeatureStore:
        """The frozen encoder's cached features of these images (computed first if they are not cached)."""
        assert self.encoder is not None
        return cached_features(self.encoder, paths, self.cache_dir / "features", self.eval_batch_size, self.num_workers)

    def _source(self, split: str, paths: list[Path]) -> tuple[FeatureStore | ImageFiles, dict[int, str]]:
        """The image input of a split and the unreadable images {row: reason}."""
        assert self.encoder is not None
        if self.uses_cache:
            store = self.feature_store(paths)
            return store, store.bad
        bad = {}
        for row, path in enumerate(paths):  # fail early, by name, rather than inside a worker
            try:
                load_image(path)
            except DataError as error:
                bad[row] = str(error)
        return ImageFiles(paths, image_transform(self.encoder.spec, augment=split == "train")), bad

    @staticmethod
    def readable(split: PreparedCaptionSplit, bad: dict[int, str]) -> np.ndarray:
        """(images,) bool: the images that are not in `bad`."""
        readable = np.ones(split.images, dtype=bool)
        readable[list(bad)] = False
        return readable

    def usable_captions(self, split: PreparedCaptionSplit, bad: dict[int, str]) -> tuple[np.ndarray, int]:
        """The training captions (rows) of readable images with at most `max_length` words, and how many were
        dropped for their length."""
        lengths = split.columns["caption"].lengths
        usable = self.readable(split, bad)[split.caption_image]
        too_long = usable & (lengths > self.max_length)
        return np.flatnonzero(usable & ~too_long), int(too_long.sum())

    def build_dataset(self, name: str) -> CaptionDataset:
        split = self.captions.prepare_split(name)
        source, bad = self._source(name, split.paths())
        for reason in list(bad.values())[:20]:
            log.warning("skipped image: %s", reason)
        if bad:
            log.warning("%s: skipped %d unreadable images of %d", name, len(bad), split.images)
        if name != "train" or self.train_per_image:  # every usable image once, with all its references
            first = split.first_captions()
            images = np.flatnonzero(self.readable(split, bad) & (first >= 0))
            dataset = CaptionDataset(split, first[images], images, images, True, source)
        else:
            captions, too_long = self.usable_captions(split, bad)
            if too_long:
                log.warning("%s: dropped %d captions longer than %d words", name, too_long, self.max_length)
            dataset = CaptionDataset(split, captions, split.caption_image[captions].astype(np.int64),
                                     np.arange(len(captions)), False, source)
        if not len(dataset):
            raise DataError(f"{self.annotations or self.data_dir}: split {name!r} has no usable images with captions")
        return dataset

    def setup(self, stage: str | None = None) -> None:
        self._attach_from_trainer()
        for split in self.stage_splits(stage):
            if split not in self.datasets:
                self.datasets[split] = self.build_dataset(split)

    def describe(self, model: L.LightningModule | None = None) -> str:
        """Prepare the captions of every configured split and, for a model with a frozen image encoder, the
        feature caches; say what is in them (`captra prepare`)."""
        if model is not None and self.encoder is None and isinstance(getattr(model, "encoder", None), ImageEncoder):
            self.attach(model.encoder)
        lines = [f"prepared captions: {self.captions.folder}",
                 f"vocabulary: {len(self.captions.pipeline.vocab):,} words seen at least {self.min_freq} times "
                 f"in the {self.captions.vocabulary_meta['captions']:,} training captions (data.min_freq)"]
        for name in dict.fromkeys(["train", self.val_split, self.test_split]):
            split = self.captions.prepare_split(name)
            counts = split.caption_counts()
            lines.append(f"{name}: {split.images:,} images, {int(counts.sum()):,} captions "
                         f"({int((counts == 0).sum()):,} images without one)")
            bad: dict[int, str] = {}
            if self.uses_cache:
                store = self.feature_store(split.paths())
                bad = store.bad
                lines.append(f"  features: {store.path} ({len(bad):,} unreadable images)")
            rows, too_long = self.usable_captions(split, bad)
            if name == "train":
                lines.append(f"  kept {len(rows):,} captions, dropped {too_long:,} longer than {self.max_length} words "
                             f"(data.max_length)")
            lines.append(column_summary("words", split.meta["columns"]["caption"], split.columns["caption"].lengths[rows]))
        return "\n".join(lines)
