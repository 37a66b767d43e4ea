"""Captioning inputs for `captra report`: a split's images and reference captions, and captioning them."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from captioning.attention_map import save_attention_map
from captioning.caption import caption_batches
from captioning.corpus import read_flickr8k, read_karpathy
from captioning.images import load_image, read_image_tensor
from common.report.split import SplitData
from common.search import SearchConfig


def read_split(settings: dict[str, Any], split: str) -> SplitData:
    data_dir = Path(settings["data_dir"])
    image_dir = Path(settings["image_dir"]) if settings.get("image_dir") else (
        data_dir / "images" if (data_dir / "images").is_dir() else data_dir)
    if settings.get("annotations"):
        images = read_karpathy(Path(settings["annotations"]), split, image_dir)
    else:
        images = read_flickr8k(data_dir, split, image_dir)
    images = [image for image in images if image.captions]
    lengths = [round(sum(len(c.split()) for c in image.captions) / len(image.captions)) for image in images]
    return SplitData(split, [str(image.path) for image in images], [image.captions for image in images], lengths,
                     "mean reference words")


def decode(module, data: SplitData, config: SearchConfig, batch_size: int, device: torch.device) -> list[str]:
    """Captions of every image, decoded `batch_size` images at a time (images read per batch)."""
    captions: list[str] = []
    with tqdm(total=len(data.inputs), desc="captioning", unit="img", file=sys.stderr, disable=None) as progress:
        for start in range(0, len(data.inputs), batch_size):
            images = [read_image_tensor(Path(p), module.encoder.spec) for p in data.inputs[start : start + batch_size]]
            captions += [module.to_text(h) for h in caption_batches(module, images, config, len(images), device)]
            progress.update(len(images))
    return captions


def attention_figures(module, data: SplitData, rows: list[int], config: SearchConfig, device: torch.device) -> list[bytes]:
    """Attention maps (one panel per word) of a few images, as PNG bytes."""
    figures = []
    with tempfile.TemporaryDirectory() as folder:
        for row in rows:
            path = Path(data.inputs[row])
            best = caption_batches(module, [read_image_tensor(path, module.encoder.spec)], config, 1, device,
                                   keep_attention=True)[0]
            words = [module.texts["tgt"].vocab.itos[token] for token in best.tokens]
            target = Path(folder) / f"{row}.png"
            save_attention_map(load_image(path), words, best.attention, target)
            figures.append(target.read_bytes())
    return figures
