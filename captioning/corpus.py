"""Caption corpora on disk -> per split, each image's file and its reference captions.

Two formats:
- Flickr8k's own files: `Flickr8k.token.txt` (`<image>#<n><TAB><caption>`) and
  `Flickr_8k.{train,dev,test}Images.txt` (split lists); splits are named train / val / test.
- Karpathy's split JSON (`dataset_flickr8k.json`, `dataset_flickr30k.json`, `dataset_coco.json`):
  `images[].{filename, filepath?, split, sentences[].raw}`; "restval" counts as train.
Captions are normalised once, here, for training and for scoring alike (`normalize_caption`).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from captra.common.text.files import DataError, read_lines

FLICKR8K_SPLIT_FILES = {"train": "Flickr_8k.trainImages.txt", "val": "Flickr_8k.devImages.txt", "test": "Flickr_8k.testImages.txt"}
_WORDS = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def normalize_caption(text: str) -> str:
    """Lowercased words without punctuation, single-spaced (Karpathy's preprocessing)."""
    return " ".join(_WORDS.findall(text.lower()))


@dataclass
class CaptionedImage:
    path: Path  # the image file
    captions: list[str]  # normalised reference captions


def flickr8k_files(data_dir: Path, split: str) -> tuple[Path, Path]:
    """The captions file and the split's image list of the Flickr8k files."""
    if split not in FLICKR8K_SPLIT_FILES:
        raise DataError(f"{data_dir}: Flickr8k has no split {split!r}; expected one of {', '.join(FLICKR8K_SPLIT_FILES)}")
    return data_dir / "Flickr8k.token.txt", data_dir / FLICKR8K_SPLIT_FILES[split]


def read_flickr8k(data_dir: Path, split: str, image_dir: Path) -> list[CaptionedImage]:
    """One split of the Flickr8k files, in the order of its split list."""
    token_path, list_path = flickr8k_files(data_dir, split)
    captions: dict[str, list[str]] = defaultdict(list)
    for number, line in enumerate(read_lines(token_path), start=1):
        if not line.strip():
            continue
        key, tab, caption = line.partition("\t")
        name, hash_sign, _ = key.partition("#")
        if not tab or not hash_sign:
            raise DataError(f"{token_path}:{number}: expected '<image>#<n><TAB><caption>', got {line[:60]!r}")
        if normalize_caption(caption):
            captions[name].append(normalize_caption(caption))
    names = [n.strip() for n in read_lines(list_path) if n.strip()]
    return [CaptionedImage(image_dir / name, captions.get(name, [])) for name in names]


def read_karpathy(annotations: Path, split: str, image_dir: Path) -> list[CaptionedImage]:
    """One split of a Karpathy split JSON, in file order."""
    if not annotations.is_file():
        raise DataError(f"{annotations}: no such annotation file")
    try:
        images = json.loads(annotations.read_text(encoding="utf-8"))["images"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise DataError(f"{annotations}: not a Karpathy split JSON ({type(error).__name__}: {error})") from error
    wanted = {"train": ("train", "restval")}.get(split, (split,))
    selected = []
    for index, image in enumerate(images):
        try:
            if image["split"] not in wanted:
                continue
            folder = image_dir / image["filepath"] if "filepath" in image else image_dir
            captions = [normalize_caption(s["raw"]) for s in image["sentences"]]
            selected.append(CaptionedImage(folder / image["filename"], [c for c in captions if c]))
        except (KeyError, TypeError) as error:
            raise DataError(f"{annotations}: images[{index}] lacks {error} (needs filename, split, sentences[].raw)") from error
    if not selected:
        raise DataError(f"{annotations}: no images in split {split!r}")
    return selected
