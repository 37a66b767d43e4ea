"""`POST /v1/pronounce` (`captra serve`): words in, pronunciations out, each as `captra pronounce` gives it."""

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
from captra.common.text.files import DataError
from captra.g2p.pronounce import decode_words, letter_ids


class PronounceRequest(SearchOptions):
    """Words to pronounce and how (attention: the alignment, phonemes x letters)."""

    text: list[str] = Field(min_length=1, description="the words, one per item (letters; no spaces)")


@dataclass(frozen=True)
class Word:
    """One word of a request: its text, its letter ids and the letters read as <unk> (never seen in training)."""

    text: str
    ids: list[int]
    unknown_letters: list[str]


def prepare(module: nn.Module, request: PronounceRequest, uploads: list[Upload], limits: Limits) -> list[Word]:
    check_input_count(len(request.text), limits)
    words = []
    for index, text in enumerate(request.text):
        try:
            ids, unknown = letter_ids(module, text, f"text[{index}]")
        except DataError as error:
            raise RequestError(str(error)) from error
        words.append(Word(text, ids, unknown))
    return words


def decode(module: nn.Module, words: list[Word], config: SearchConfig, keep_attention: bool,
           device: torch.device) -> list[list[Hypothesis]]:
    return decode_words(module, [word.ids for word in words], config, device, keep_attention)


def respond(module: nn.Module, word: Word, nbest: list[Hypothesis], request: PronounceRequest) -> dict[str, Any]:
    """`result` with "unknown_letters" (read as <unk>) and the attention's columns as "input_tokens" (letters)."""
    context = {"input_tokens": tokens(module.texts["src"].vocab, word.ids)}
    return result(module, word.text, nbest, request, context, unknown_letters=word.unknown_letters)


ENDPOINT = Endpoint(
    route="pronounce", summary="pronounce words (ARPAbet phonemes; n-best, scores and the letter alignment on request)",
    verb="Pronounce", input_kind="text", request_model=PronounceRequest, prepare=prepare, decode=decode,
    respond=respond,
)
