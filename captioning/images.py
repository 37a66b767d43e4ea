"""Reading images (any size, JPEG/PNG/...) into normalised tensors, with errors that name the file."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torchvision.transforms import v2

from captra.captioning.backbones import InputSpec
from captra.common.text.files import DataError


class ImageTooLarge(DataError):
    """An image with more pixels than a limit allows."""


def load_image(path: Path) -> Image.Image:
    """The decoded RGB image; DataError naming the file if it is missing, truncated or not an image."""
    if not path.is_file():
        raise DataError(f"{path}: no such image file")
    return decode_image(path, str(path))


def decode_image(source: Path | BinaryIO, name: str, max_pixels: int | None = None) -> Image.Image:
    """A file (path or binary stream) decoded into an RGB image; DataError naming it (`name`) if it is not an image,
    is truncated, or has more than `max_pixels` pixels (checked from its header before anything is decoded, so
    a decompression bomb never is)."""
    try:
        with Image.open(source) as image:
            if max_pixels is not None and image.width * image.height > max_pixels:
                raise ImageTooLarge(f"{name}: {image.width}x{image.height} pixels, more than the limit of {max_pixels}")
            image.load()  # decode now: truncated files fail here, not later in a worker
            return image.convert("RGB")
    except DataError:
        raise
    except UnidentifiedImageError as error:
        raise DataError(f"{name}: not an image file PIL can read") from error
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(f"{name}: too many pixels to decode safely ({error})") from error
    except Exception as error:  # noqa: BLE001 - Pillow raises many kinds on crafted files (EOFError, struct.error, ...)
        raise DataError(f"{name}: corrupt or truncated image ({type(error).__name__}: {error})") from error


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
