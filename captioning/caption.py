"""`captra caption IMAGE [IMAGE ...] --ckpt CKPT`: `IMAGE<TAB>caption` per image, in the order given.

Any JPEG/PNG of any size works (it is squashed to the backbone's input size, as the training images
were). An unreadable image is reported on stderr by name; the others are still captioned, and the
command then exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from captra.captioning.attention_map import map_path, save_attention_map
from captra.captioning.images import image_transform, load_image
from captra.captioning.model import CaptioningModule
from captra.common.checkpoints.loading import load_ensemble
from captra.common.cli.inference import add_device_arguments, decoding_config, place, resolve_device
from captra.common.decoding.settings import Hypothesis, SearchConfig
from captra.common.text.files import DataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files (JPEG, PNG, ...)")
    parser.add_argument("--ckpt", required=True, action="append",
                        help="a captioning checkpoint (.ckpt); repeat it to caption with an ensemble of several "
                             "(their log-probabilities averaged at every step; images prepared for the first)")
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the checkpoint's); 1 = greedy")
    parser.add_argument("--batch-size", type=int, default=32, help="images decoded together")
    parser.add_argument("--attention-map", type=Path, default=None, metavar="OUT",
                        help="save the attention of every word over the image: OUT.png for one image, "
                             "else the folder OUT with one <image name>.png per image")
    add_device_arguments(parser)


def caption_batches(
    module: CaptioningModule, inputs: list[Tensor], config: SearchConfig, batch_size: int, device: torch.device,
    keep_attention: bool = False, kind: str = "images",
) -> list[Hypothesis]:
    """The best hypothesis for each input, decoded `batch_size` at a time.

    inputs: images (3, H, W) normalised for the backbone, or (with kind="features") region features (S, C).
    """
    best: list[Hypothesis] = []
    for start in range(0, len(inputs), batch_size):
        nbests = decode_images(module, inputs[start : start + batch_size], config, device, keep_attention, kind)
        best += [nbest[0] for nbest in nbests]
    return best


def decode_images(
    module: CaptioningModule, inputs: list[Tensor], config: SearchConfig, device: torch.device,
    keep_attention: bool = False, kind: str = "images",
) -> list[list[Hypothesis]]:
    """Inputs (see `caption_batches`) decoded as one batch -> an n-best list each (batch-invariant)."""
    batch = torch.stack(inputs).to(device)  # (B, 3, H, W) or (B, S, C)
    return module.decode({kind: batch}, config, keep_attention=keep_attention)


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    module = load_ensemble(args.ckpt, task="captioning")
    if args.attention_map is not None and module.decoder.attention is None:
        raise ValueError(f"{args.ckpt[0]}: this model has no attention (Show and Tell), so --attention-map has nothing to draw")
    device = resolve_device(args.device)
    module = place(module, device, args.int8)
    config = decoding_config(module.search_config, args.beam)
    transform = image_transform(module.encoder.spec)

    failures = 0
    paths: list[Path] = args.images
    with tqdm(total=len(paths), desc="captioning", unit="img", file=sys.stderr, disable=None) as progress:
        for start in range(0, len(paths), args.batch_size):
            pictures = {}
            for path in paths[start : start + args.batch_size]:
                try:
                    pictures[path] = load_image(path)
                except DataError as error:
                    print(f"captra caption: error: {error}", file=sys.stderr)
                    failures += 1
            inputs = [transform(picture) for picture in pictures.values()]
            hypotheses = caption_batches(module, inputs, config, len(inputs) or 1, device, args.attention_map is not None)
            for (path, picture), best in zip(pictures.items(), hypotheses):
                print(f"{path}\t{module.to_text(best)}", flush=True)
                if args.attention_map is not None:
                    words = [module.texts["tgt"].vocab.itos[token] for token in best.tokens]
                    save_attention_map(picture, words, best.attention, map_path(args.attention_map, path, len(paths)))
            progress.update(len(paths[start : start + args.batch_size]))
    if failures:
        print(f"captra caption: {failures} of {len(paths)} images could not be read", file=sys.stderr)
    return 1 if failures else 0
