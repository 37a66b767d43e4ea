"""`POST /v1/translate` (`captra serve`): sentences in, translations out, each as `captra translate` gives it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from captra.common.decoding.settings import Hypothesis, SearchConfig
from captra.common.serve.endpoint import Endpoint, RequestError, Upload, check_input_count, requested_search, tokens
from captra.common.serve.limits import Limits
from captra.translation.translate import MAX_SOURCE_TOKENS, decode_sources


class TranslateRequest(BaseModel):
    """Sentences to translate and how."""

    model_config = ConfigDict(extra="forbid")
    text: list[str] = Field(min_length=1, description="the sentences, raw text (one per item, as `captra translate` reads lines)")
    beam: int | None = Field(None, description="beam size (default: the checkpoint's); 1 = greedy")
    n_best: int = Field(1, description="translations per sentence, best first")
    attention: bool = Field(False, description="add each translation's alignment: attention weights (target x source "
                                               "tokens) with both token lists")


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
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as bad:
            raise RequestError(f"text[{index}]: not valid Unicode at character {bad.start} ({bad.reason})") from bad
        ids = module.texts["src"].encode(text)
        if not ids:
            raise RequestError(f"text[{index}] has no tokens")
        sources.append(Source(text, ids[:MAX_SOURCE_TOKENS], len(ids) > MAX_SOURCE_TOKENS))
    return sources


def search(module: nn.Module, request: TranslateRequest, limits: Limits) -> tuple[SearchConfig, bool]:
    if request.attention and module.decoder.attention is None:
        raise RequestError("this model has no attention (seq2seq without attention), so it has no alignment to return")
    return requested_search(module, request.beam, request.n_best, limits), request.attention


def decode(module: nn.Module, sources: list[Source], config: SearchConfig, keep_attention: bool,
           device: torch.device) -> list[list[Hypothesis]]:
    return decode_sources(module, [source.ids for source in sources], config, device, keep_attention)


def respond(module: nn.Module, source: Source, nbest: list[Hypothesis], request: TranslateRequest) -> dict[str, Any]:
    """{"text", "truncated", "translations": [{"text", "score"[, "target_tokens", "attention"]}][, "source_tokens"]}"""
    translations = []
    for hypothesis in nbest:
        translation: dict[str, Any] = {"text": module.to_text(hypothesis), "score": hypothesis.score}
        if request.attention and hypothesis.attention is not None:
            translation["target_tokens"] = tokens(module.texts["tgt"].vocab, hypothesis.tokens)
            translation["attention"] = hypothesis.attention.float().cpu().round(decimals=4).tolist()  # (T, S)
        translations.append(translation)
    result: dict[str, Any] = {"text": source.text, "truncated": source.truncated, "translations": translations}
    if request.attention:
        result["source_tokens"] = tokens(module.texts["src"].vocab, source.ids)
    return result


ENDPOINT = Endpoint(
    route="translate", summary="translate sentences (beam search; n-best, scores and alignments on request)",
    input_kind="text", request_model=TranslateRequest, prepare=prepare, search=search, decode=decode, respond=respond,
)
