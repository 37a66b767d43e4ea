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
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from captra.captioning.caption import decode_images
from captra.captioning.images import ImageTooLarge, decode_image, image_transform
from captra.common.decoding.settings import Hypothesis, SearchConfig
from captra.common.serve.endpoint import Endpoint, RequestError, Upload, check_input_count, requested_search, tokens
from captra.common.serve.limits import Limits
from captra.common.text.files import DataError

UPLOAD_FIELD = "images"


class CaptionRequest(BaseModel):
    """Images to caption and how (multipart: the files in the form field `images`, these options as fields)."""

    model_config = ConfigDict(extra="forbid")
    images: list[str] = Field(default_factory=list, description="base64-encoded image files (JPEG, PNG, ...), for "
                                                                "JSON requests; multipart requests upload files instead")
    beam: int | None = Field(None, description="beam size (default: the checkpoint's); 1 = greedy")
    n_best: int = Field(1, description="captions per image, best first")
    attention: bool = Field(False, description="add, for every word, its attention over the image's region grid")


@dataclass(frozen=True)
class Picture:
    """One image of a request: its name (file name, or `images[i]`) and its input tensor (3, size, size)."""

    name: str
    pixels: Tensor


def prepare(module: nn.Module, request: CaptionRequest, uploads: list[Upload], limits: Limits) -> list[Picture]:
    files = [(upload.filename, upload.data) for upload in uploads]
    for index, text in enumerate(request.images):
        try:
            files.append((f"images[{index}]", base64.b64decode(text, validate=True)))
        except (binascii.Error, ValueError) as bad:
            raise RequestError(f"images[{index}]: not base64 ({bad})") from bad
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


def search(module: nn.Module, request: CaptionRequest, limits: Limits) -> tuple[SearchConfig, bool]:
    if request.attention and module.decoder.attention is None:
        raise RequestError("this model has no attention (Show and Tell), so it has no attention to return")
    return requested_search(module, request.beam, request.n_best, limits), request.attention


def decode(module: nn.Module, pictures: list[Picture], config: SearchConfig, keep_attention: bool,
           device: torch.device) -> list[list[Hypothesis]]:
    return decode_images(module, [picture.pixels for picture in pictures], config, device, keep_attention)


def respond(module: nn.Module, picture: Picture, nbest: list[Hypothesis], request: CaptionRequest) -> dict[str, Any]:
    """{"name", "captions": [{"text", "score"[, "words", "attention"]}][, "grid"]}: attention is one row of region
    weights per word, the regions row by row over a `grid` of [rows, columns] laid over the image."""
    captions, grid = [], None
    for hypothesis in nbest:
        caption: dict[str, Any] = {"text": module.to_text(hypothesis), "score": hypothesis.score}
        if request.attention and hypothesis.attention is not None:
            regions = hypothesis.attention.size(-1)
            side = math.isqrt(regions)
            grid = [side, side] if side * side == regions else [1, regions]
            caption["words"] = tokens(module.texts["tgt"].vocab, hypothesis.tokens)
            caption["attention"] = hypothesis.attention.float().cpu().round(decimals=4).tolist()  # (T, S)
        captions.append(caption)
    result: dict[str, Any] = {"name": picture.name, "captions": captions}
    if grid is not None:
        result["grid"] = grid
    return result


ENDPOINT = Endpoint(
    route="caption", summary="caption images (beam search; n-best, scores and attention over the image on request)",
    input_kind="image", request_model=CaptionRequest, prepare=prepare, search=search, decode=decode, respond=respond,
    upload_field=UPLOAD_FIELD,
)
