"""Captioning training epoch with the feature cache against running the frozen CNN every step.

Same model (from --ckpt), same captions, same batches; only where the region features come from
differs: the on-disk cache (built once, timed separately) or the CNN on the decoded images.
Prints one JSON object: seconds per epoch of each, the ratio, and the one-time cache build.

    python benchmarks/feature_cache_epoch.py --ckpt CKPT [--data-dir ../shared/data/flickr8k]
        [--images 500] [--batch-size 64] [--workers 2] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

from _setup import metadata
from captioning.data import CaptioningDataModule
from captioning.features import cached_features
from common.checkpoint import load_module


class FirstImages(CaptioningDataModule):
    """The data module on the first `limit` images of each split."""

    def __init__(self, limit: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.limit = limit

    def read_split(self, split: str):
        return super().read_split(split)[: self.limit]


def train_one_epoch(module, loader) -> tuple[float, int]:
    """Seconds for one pass of teacher-forced training steps (forward, backward, Adam); steps taken."""
    optimizer = module.configure_optimizers()["optimizer"]
    module.train()
    start, steps = time.perf_counter(), 0
    for index, batch in enumerate(loader):
        loss = module.training_step(batch, index)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
    return time.perf_counter() - start, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--data-dir", default="../shared/data/flickr8k")
    parser.add_argument("--images", type=int, default=500, help="the first N training images (5 captions each)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache-dir", default=None, help="default: a fresh temporary folder")
    args = parser.parse_args()

    module = load_module(args.ckpt, task="captioning")
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="captra-bench-cache-")
    result: dict[str, object] = {"benchmark": "feature_cache_epoch", "images": args.images, "batch_size": args.batch_size,
                                 "workers": args.workers}
    epochs = {}
    for mode, cache in (("cached", True), ("cnn_every_step", False)):
        data = FirstImages(args.images, data_dir=args.data_dir, batch_size=args.batch_size, num_workers=args.workers,
                           cache_dir=cache_dir, cache_features=cache, min_freq=1)
        data.attach(module.encoder)
        if cache:
            start = time.perf_counter()
            cached_features(module.encoder, [i.path for i in data.read_split("train")], data.cache_dir,
                            num_workers=args.workers)
            result["cache_build_s"] = round(time.perf_counter() - start, 2)
        data.setup("fit")
        torch.manual_seed(0)
        epochs[mode], steps = train_one_epoch(module, data.train_dataloader())
        result[f"{mode}_epoch_s"] = round(epochs[mode], 2)
        result["steps_per_epoch"] = steps
    result["speedup"] = round(epochs["cnn_every_step"] / epochs["cached"], 2)
    result.update({**metadata(), "checkpoint": args.ckpt})
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
