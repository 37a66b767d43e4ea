"""Captions prepared once, in the cache folder, for every run and every DDP rank that needs them.

    <cache_dir>/corpora/captions-<key>/
        vocabulary/            tgt.json: the word vocabulary of the training captions (the checkpoint's text)
        <split>-<key>/         per split: caption (token ids, one row per caption) with caption_image.npy (its
                               image's row), and per image its file (path) and its normalised reference
                               captions (references, joined by newlines), all ragged columns (common/data/ragged.py)

Keys cover the annotation files (path, size, modification time), the image folder, and `min_freq`. Captions
longer than `max_length` and images that cannot be read are left out when a run reads a split, not here.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from captra.captioning.corpus import CaptionedImage
from captra.common.data.encoding import Column, encode_columns
from captra.common.data.prepared_folder import Preparation, data_key, fingerprint, prepared
from captra.common.data.ragged import Ragged, RaggedWriter, write_strings
from captra.common.text.pipeline import TextPipeline
from captra.common.text.files import DataError

FORMAT = 2  # of the prepared files; a change of layout or content bumps it (and so every key). 2: absolute image paths


@dataclass(frozen=True)
class CaptionSource:
    """Where a caption corpus is: how to read a split, and the files each split is read from."""

    read_split: Callable[[str], list[CaptionedImage]]
    split_files: Callable[[str], list[Path]]
    image_dir: Path
    name: str  # for messages: the annotation file or folder


class PreparedCaptions:
    """The prepared vocabulary and splits of one caption corpus, each prepared at first need (`prepare_split`)."""

    def __init__(self, source: CaptionSource, min_freq: int, cache_dir: Path, num_proc: int) -> None:
        self.source, self.min_freq, self.num_proc = source, min_freq, num_proc
        self.key = data_key({"format": FORMAT, "train": [fingerprint(path) for path in source.split_files("train")],
                             "image_dir": str(source.image_dir.resolve()), "min_freq": min_freq})
        self.folder = cache_dir / "corpora" / f"captions-{self.key}"
        self.vocabulary_meta = prepared(self.folder / "vocabulary", self._fit_vocabulary, f"the caption vocabulary of {source.name}")
        self.text_state = json.loads((self.folder / "vocabulary" / "tgt.json").read_text())
        self.pipeline = TextPipeline.from_state(self.text_state)

    def _fit_vocabulary(self, preparation: Preparation) -> dict[str, Any]:
        captions = [caption for image in self.source.read_split("train") for caption in image.captions]
        if not captions:
            raise DataError(f"{self.source.name}: the training split has no captions")
        pipeline = TextPipeline.build(captions, kind="word", vocab_size=1_000_000, min_freq=self.min_freq)
        (preparation.folder / "tgt.json").write_text(json.dumps(pipeline.to_state()))
        return {"captions": len(captions), "min_freq": self.min_freq}

    def split_folder(self, split: str) -> Path:
        files = [fingerprint(path) for path in self.source.split_files(split)]
        return self.folder / f"{split}-{data_key({'format': FORMAT, 'files': files, 'vocabulary': self.key})}"

    def prepare_split(self, split: str) -> "PreparedCaptionSplit":
        """The split's prepared columns, built first if they are not in the cache."""
        folder = self.split_folder(split)

        def build(preparation: Preparation) -> dict[str, Any]:
            start = time.perf_counter()
            images = self.source.read_split(split)
            captions = [(caption,) for image in images for caption in image.captions]
            meta = encode_columns(captions, [Column("caption", self.pipeline)], preparation.folder, self.num_proc,
                                  f"{split} captions of {self.source.name}")
            np.save(preparation.folder / "caption_image.npy",
                    np.repeat(np.arange(len(images), dtype=np.int32), [len(image.captions) for image in images]))
            for name, texts in (("path", [str(image.path.resolve()) for image in images]),
                                ("references", ["\n".join(image.captions) for image in images])):
                writer = RaggedWriter(preparation.folder, name, np.uint8)
                write_strings(writer, texts)
                meta[name] = writer.close()
            preparation.fraction = 1.0
            print(f"captra: {split}: {len(images):,} images, {len(captions):,} captions prepared in "
                  f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
            return {"split": split, "images": len(images), "columns": meta}

        return PreparedCaptionSplit(folder, prepared(folder, build, f"the {split} captions of {self.source.name}"))


class PreparedCaptionSplit:
    """One prepared split: `caption` (ids, no <s> </s>) and `caption_image` per caption; `path` and
    `references` per image; `first_caption` per image (-1: none)."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder, self.meta = folder, meta
        self.columns = {name: Ragged(folder, column) for name, column in meta["columns"].items()}
        self.caption_image = np.load(folder / "caption_image.npy", mmap_mode="r")

    @property
    def images(self) -> int:
        return int(self.meta["images"])

    def paths(self) -> list[Path]:
        return [Path(path) for path in self.columns["path"].strings(range(self.images))]

    def caption_counts(self) -> np.ndarray:
        """(images,) how many captions each image has."""
        return np.bincount(self.caption_image, minlength=self.images)

    def first_captions(self) -> np.ndarray:
        """(images,) the row of each image's first caption (-1 for an image without captions)."""
        counts = self.caption_counts()
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return np.where(counts > 0, starts, -1)

    def references(self, images: np.ndarray) -> list[list[str]]:
        return [text.split("\n") if text else [] for text in self.columns["references"].strings(images)]
