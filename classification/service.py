"""`POST /v1/classify` (`captra serve`): sentences in, each class's probability out, as `captra classify` gives them.

A classifier has no search: a request's `n_best` is how many classes its answer ranks (most probable first, each
with its probability as the score), `beam` is refused, and `attention` gives the attention pooling's weight of
every word (one row; only for a model with attention pooling).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from pydantic import Field
from torch import nn

from captra.common.serve.endpoint import (Endpoint, RequestError, SearchOptions, Upload, check_input_count, finite,
                                          tokens)
from captra.common.serve.limits import Limits
from captra.classification.classify import MAX_TOKENS, classify_ids

Output = tuple[list[float], list[float] | None]  # class probabilities, attention weights over the words or None


class ClassifyRequest(SearchOptions):
    """Sentences to classify (n_best: classes ranked per sentence; attention: the pooling's word weights)."""

    text: list[str] = Field(min_length=1, description="the sentences, raw text, one per item (no line breaks)")


@dataclass(frozen=True)
class Sentence:
    """One sentence of a request: its text, its token ids (at most MAX_TOKENS) and whether it was cut."""

    text: str
    ids: list[int]
    truncated: bool


def settings(module: nn.Module, options: ClassifyRequest, limits: Limits) -> tuple[None, bool]:
    """Refuses a beam, and attention from a model without attention pooling; every other request may share a batch
    with any (the classifier computes the same whatever a request asks: `respond` ranks and picks)."""
    if options.beam is not None:
        raise RequestError("beam: a classifier has no search (n_best ranks its classes)")
    if options.attention and module.classifier_config.pooling != "attention":
        raise RequestError(f"this model pools its states by {module.classifier_config.pooling}: it has no attention "
                           "weights to return")
    return None, False


def prepare(module: nn.Module, request: ClassifyRequest, uploads: list[Upload], limits: Limits) -> list[Sentence]:
    check_input_count(len(request.text), limits)
    sentences = []
    for index, text in enumerate(request.text):
        if len(text) > limits.max_text_chars:
            raise RequestError(f"text[{index}]: {len(text)} characters, more than the limit of {limits.max_text_chars} "
                               "(--max-text-chars)", 413)
        if "\n" in text or "\r" in text:
            raise RequestError(f"text[{index}] contains a line break: send one sentence per item")
        ids = module.texts["src"].encode(text)
        if not ids:
            raise RequestError(f"text[{index}] is empty: nothing to classify")
        sentences.append(Sentence(text, ids[:MAX_TOKENS], len(ids) > MAX_TOKENS))
    return sentences


def decode(module: nn.Module, sentences: list[Sentence], _settings: None, _keep_attention: bool,
           device: torch.device) -> list[Output]:
    return classify_ids(module, [sentence.ids for sentence in sentences], len(sentences), device)


def respond(module: nn.Module, sentence: Sentence, output: Output, request: ClassifyRequest) -> dict[str, Any]:
    """{"input", "truncated", "probabilities": {class: p}, "outputs": the n_best classes [{text, score}] (score: the
    probability), "attention": {"output_tokens": ["attention"], "weights": [[w per word]], "input_tokens"}}."""
    probabilities, weights = output
    ranked = sorted(range(len(probabilities)), key=lambda k: -probabilities[k])[: request.n_best]
    answer: dict[str, Any] = {
        "input": sentence.text, "truncated": sentence.truncated,
        "probabilities": {name: finite(p) for name, p in zip(module.classes, probabilities)},
        "outputs": [{"text": module.classes[k], "score": finite(probabilities[k])} for k in ranked]}
    if request.attention and weights is not None:
        answer["attention"] = {"output_tokens": ["attention"], "weights": [[round(w, 4) for w in weights]],
                               "input_tokens": tokens(module.texts["src"].vocab, sentence.ids)}
    return answer


def card(module: nn.Module) -> dict[str, Any]:
    """The model card's decoding part: no search; the classes; attention where the pooling is attention."""
    return {"attention": module.classifier_config.pooling == "attention", "search": None, "classes": module.classes}


ENDPOINT = Endpoint(
    route="classify", summary="classify sentences (every class's probability; the attention pooling's word weights on "
                              "request)",
    verb="Classify", input_kind="text", request_model=ClassifyRequest, prepare=prepare, decode=decode,
    respond=respond, settings=settings, card=card,
)
