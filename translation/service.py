"""`POST /v1/translate` (`captra serve`): sentences in, translations out, each as `captra translate` gives it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from pydantic import Field
from torch import nn

from captra.common.decoding.settings import Hypothesis, SearchConfig
from captra.common.serve.endpoint import (Endpoint, RequestError, SearchOptions, Upload, check_input_count, result,
                                          tokens)
from captra.common.serve.limits import Limits
from captra.translation.translate import MAX_SOURCE_TOKENS, decode_sources


class TranslateRequest(SearchOptions):
    """Sentences to translate and how (attention: the alignment, target x source tokens)."""

    text: list[str] = Field(min_length=1, description="the sentences, raw text, one per item (as `captra translate` "
                                                      "reads lines: an item may not contain a line break)")


@dataclass(frozen=True)
class Source:
    """One sentence of a request: its text, its token ids (at most MAX_SOURCE_TOKENS) and whether it was cut."""

    text: str
    ids: list[int]
    truncated: bool


def prepare(module: nn.Module, request: TranslateRequest, uploads: list[Upload], limits: Limits) -> list[Source]:
    check_input_count(len(request.text), limits)
    sources = []
    for index, text in enumerate(request.text):
        if len(text) > limits.max_text_chars:
            raise RequestError(f"text[{index}]: {len(text)} characters, more than the limit of {limits.max_text_chars} "
                               "(--max-text-chars)", 413)
        if not text.strip():
            raise RequestError(f"text[{index}] is empty")
        if "\n" in text or "\r" in text:
            raise RequestError(f"text[{index}] contains a line break: send one sentence per item")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as bad:
            raise RequestError(f"text[{index}]: not valid Unicode at character {bad.start} ({bad.reason})") from bad
        ids = module.texts["src"].encode(text)
        if not ids:
            raise RequestError(f"text[{index}] has no tokens")
        sources.append(Source(text, ids[:MAX_SOURCE_TOKENS], len(ids) > MAX_SOURCE_TOKENS))
    return sources


def decode(module: nn.Module, sources: list[Source], config: SearchConfig, keep_attention: bool,
           device: torch.device) -> list[list[Hypothesis]]:
    return decode_sources(module, [source.ids for source in sources], config, device, keep_attention)


def respond(module: nn.Module, source: Source, nbest: list[Hypothesis], request: TranslateRequest) -> dict[str, Any]:
    """`result` with "truncated" (the sentence was cut to MAX_SOURCE_TOKENS tokens, as `captra translate` cuts it)
    and the attention's columns as "input_tokens"."""
    context = {"input_tokens": tokens(module.texts["src"].vocab, source.ids)}
    return result(module, source.text, nbest, request, context, truncated=source.truncated)


ENDPOINT = Endpoint(
    route="translate", summary="translate sentences (beam search; n-best, scores and the alignment on request)",
    verb="Translate", input_kind="text", request_model=TranslateRequest, prepare=prepare, decode=decode,
    respond=respond,
)
