"""Reading images (any size, JPEG/PNG/...) into normalised tensors, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torchvision.transforms import v2

from captra.captioning.backbones import InputSpec
from captra.common.text.files import DataError


def load_image(path: Path) -> Image.Image:
    """The decoded RGB image; DataError naming the file if it is missing, truncated or not an image."""
    if not path.is_file():
        raise DataError(f"{path}: no such image file")
    try:
        with Image.open(path) as image:
            image.load()  # decode now: truncated files fail here, not later in a worker
            return image.convert("RGB")
    except UnidentifiedImageError as error:
        raise DataError(f"{path}: not an image file PIL can read") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{path}: corrupt or truncated image ({error})") from error


def image_transform(spec: InputSpec, augment: bool = False) -> v2.Compose:
    """PIL image -> (3, size, size) float tensor normalised as the backbone expects.

    Images are squashed to a square (as Flickr8k's were); `augment` adds a mild random crop and flip.
    """
    resize = (
        v2.RandomResizedCrop((spec.size, spec.size), scale=(0.8, 1.0), ratio=(0.9, 1.1), antialias=True)
        if augment
        else v2.Resize((spec.size, spec.size), antialias=True)
    )
    steps = [v2.PILToTensor(), resize, *([v2.RandomHorizontalFlip()] if augment else [])]
    return v2.Compose([*steps, v2.ToDtype(torch.float32, scale=True), v2.Normalize(spec.mean, spec.std)])


def read_image_tensor(path: Path, spec: InputSpec) -> Tensor:
    """One image file -> (3, size, size) input tensor."""
    return image_transform(spec)(load_image(path))
