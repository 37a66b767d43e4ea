"""Captioning in `captra report`: a split's images and reference captions, captioning them, attention maps."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from tqdm import tqdm

from captra.captioning.attention_map import save_attention_map
from captra.captioning.caption import caption_batches
from captra.captioning.data import CaptioningDataModule
from captra.captioning.images import load_image, read_image_tensor
from captra.common.report.split import SplitData
from captra.common.decoding.settings import SearchConfig


def read_split(data: CaptioningDataModule, split: str) -> SplitData:
    """Every image with captions, its references, and the mean reference length in words."""
    images = [image for image in data.read_split(split) if image.captions]
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
