"""Captioning training epoch with the feature cache against running the frozen CNN every step.

Same model (from --ckpt), same captions, same batches; only where the region features come from
differs: the on-disk cache (built once, timed separately) or the CNN on the decoded images.
Prints one JSON object: seconds per epoch of each, the ratio, and the one-time cache build.

    python benchmarks/feature_cache_epoch.py --ckpt CKPT [--data-dir ../shared/data/flickr8k]
        [--images 500] [--split train] [--batch-size 64] [--workers 2] [--cache-dir DIR] [--device cuda]

Every split the data module asks for (train, val) is the first --images images of --split: --split test
trains on test images instead (the same timing, fewer images to carry to a GPU machine).
"""

from __future__ import annotations

import json
import tempfile

import torch
from lightning.fabric.utilities.apply_func import move_data_to_device

from _setup import Stopwatch, benchmark_parser, metadata, timed
from captra.captioning.data import CaptioningDataModule
from captra.captioning.features import cached_features
from captra.common.checkpoints.loading import load_module


class FirstImages(CaptioningDataModule):
    """The data module on the first `limit` images of `split`, whichever split a stage asks for."""

    def __init__(self, limit: int, split: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.limit, self.split = limit, split

    def read_split(self, split: str):
        return super().read_split(self.split)[: self.limit]


def train_one_epoch(module, loader) -> tuple[float, int]:
    """Seconds for one pass of teacher-forced training steps (forward, backward, Adam); steps taken."""
    optimizer = module.configure_optimizers()["optimizer"]
    module.train()
    steps = 0
    with Stopwatch(module.device) as watch:
        for index, batch in enumerate(loader):
            loss = module.training_step(move_data_to_device(batch, module.device), index)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
    return watch.seconds, steps


def main() -> None:
    parser = benchmark_parser(__doc__, checkpoint=True, data_dir="../shared/data/flickr8k", batch_size=64)
    parser.add_argument("--images", type=int, default=500, help="the first N training images (5 captions each)")
    parser.add_argument("--split", default="train", help="the split whose first images are trained on")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache-dir", default=None, help="default: a fresh temporary folder")
    args = parser.parse_args()

    module = load_module(args.ckpt, task="captioning").to(args.device)
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="captra-bench-cache-")
    result: dict[str, object] = {"benchmark": "feature_cache_epoch", "images": args.images, "batch_size": args.batch_size,
                                 "workers": args.workers, "split": args.split, "device": args.device}
    epochs = {}
    for mode, cache in (("cached", True), ("cnn_every_step", False)):
        data = FirstImages(args.images, args.split, data_dir=args.data_dir, batch_size=args.batch_size, num_workers=args.workers,
                           cache_dir=cache_dir, cache_features=cache, min_freq=1)
        data.attach(module.encoder)
        if cache:
            result["cache_build_s"] = round(timed(lambda: cached_features(
                module.encoder, [i.path for i in data.read_split("train")], data.cache_dir / "features",
                num_workers=args.workers),
                args.device)[0], 2)
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
