"""`POST /v1/caption` (`captra serve`): images in (multipart files or base64 in JSON), captions out, each as
`captra caption` gives it, with the attention of every word over the region grid on request."""

from __future__ import annotations

import base64
import binascii
import io
import math
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import Field
from torch import Tensor, nn

from captra.captioning.caption import decode_images
from captra.captioning.images import ImageTooLarge, decode_image, image_transform
from captra.common.decoding.settings import Hypothesis, SearchConfig
from captra.common.serve.endpoint import Endpoint, RequestError, SearchOptions, Upload, check_input_count, result
from captra.common.serve.limits import Limits
from captra.common.text.files import DataError

UPLOAD_FIELD = "images"


class CaptionRequest(SearchOptions):
    """Images to caption and how (multipart: the files in the form field `images`, these options as fields;
    attention: every word's weights over the image's region grid)."""

    images: list[str] = Field(default_factory=list, description="base64-encoded image files (JPEG, PNG, ...), for "
                                                                "JSON requests; multipart requests upload files instead")


@dataclass(frozen=True)
class Picture:
    """One image of a request: its name (file name, or `images[i]`) and its input tensor (3, size, size)."""

    name: str
    pixels: Tensor


def from_base64(text: str, name: str) -> bytes:
    """An image file sent as base64 (line breaks and a `data:image/...;base64,` prefix allowed)."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as bad:
        raise RequestError(f"{name}: expected an image file in base64 ({bad})") from bad


def prepare(module: nn.Module, request: CaptionRequest, uploads: list[Upload], limits: Limits) -> list[Picture]:
    files = [(upload.filename, upload.data) for upload in uploads]
    files += [(f"images[{index}]", from_base64(text, f"images[{index}]")) for index, text in enumerate(request.images)]
    if not files:
        raise RequestError(f"no image: upload files in the multipart field {UPLOAD_FIELD!r} or send base64 strings in "
                           f"{UPLOAD_FIELD!r}")
    check_input_count(len(files), limits)
    transform = image_transform(module.encoder.spec)
    pictures = []
    for name, data in files:
        try:
            image = decode_image(io.BytesIO(data), name, limits.max_image_pixels)
        except DataError as bad:
            raise RequestError(str(bad), 413 if isinstance(bad, ImageTooLarge) else 422) from bad
        pictures.append(Picture(name, transform(image)))
    return pictures


def decode(module: nn.Module, pictures: list[Picture], config: SearchConfig, keep_attention: bool,
           device: torch.device) -> list[list[Hypothesis]]:
    return decode_images(module, [picture.pixels for picture in pictures], config, device, keep_attention)


def respond(module: nn.Module, picture: Picture, nbest: list[Hypothesis], request: CaptionRequest) -> dict[str, Any]:
    """`result` with the attention's columns as a "grid" of [rows, columns] regions, row by row over the image."""
    regions = nbest[0].attention.size(-1) if nbest and nbest[0].attention is not None else 0
    side = math.isqrt(regions)
    return result(module, picture.name, nbest, request, {"grid": [side, side] if side * side == regions else [1, regions]})


ENDPOINT = Endpoint(
    route="caption", summary="caption images (beam search; n-best, scores and attention over the image on request)",
    verb="Caption", input_kind="image", request_model=CaptionRequest, prepare=prepare, decode=decode,
    respond=respond, upload_field=UPLOAD_FIELD,
)
