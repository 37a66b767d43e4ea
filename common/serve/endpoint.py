"""What a task declares to be served: how a request becomes model inputs and how hypotheses become its answer.

A task's record carries one `Endpoint` (`Task.endpoint`); the server builds `POST /v1/{route}` from it and names no
task. A request goes through the endpoint in four steps:

    request body (JSON, or multipart form fields) --validated by request_model--> options (SearchOptions and more)
    options + uploaded files --prepare--> one model input per text / image (RequestError on bad input)
    inputs of many requests with the same (search settings, attention) --decode--> an n-best list per input
    one input + its n-best list --respond--> that input's JSON result (`result` gives the shape all tasks share)

`decode` must be batch-invariant (an input decodes to the same hypotheses alone or in any batch, as captra's
searches are), so that answers equal offline decoding however requests were batched.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from captra.common.decoding.settings import Hypothesis, SearchConfig
from captra.common.serve.limits import Limits
from captra.common.text.vocab import Vocabulary


class RequestError(ValueError):
    """A request the server refuses: its message names the problem (and the input); `status` is the HTTP code."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Upload:
    """A file of a multipart request: its form field, its file name and its bytes."""

    field: str
    filename: str
    data: bytes


class SearchOptions(BaseModel):
    """What every request may ask of the search; an endpoint's request model adds its inputs."""

    model_config = ConfigDict(extra="forbid")
    beam: int | None = Field(None, ge=1, description="beam size (default: the checkpoint's); 1 = greedy")
    n_best: int = Field(1, ge=1, description="outputs per input, best first")
    attention: bool = Field(False, description="add the best output's attention: one row of weights over the input "
                                               "per output token")


def search_settings(module: nn.Module, options: SearchOptions, limits: Limits) -> tuple[SearchConfig, bool]:
    """(search settings, keep attention) of a request: the checkpoint's settings with its beam and n-best, as the
    inference commands apply them (`decoding_config`); a beam or n-best over `limits.max_beam`, or attention from a
    model without it, is refused."""
    from captra.common.cli.inference import decoding_config

    for name, value in (("beam", options.beam), ("n_best", options.n_best)):
        if value is not None and value > limits.max_beam:
            raise RequestError(f"{name} must be between 1 and {limits.max_beam} (got {value}; --max-beam)")
    if options.attention and module.decoder.attention is None:
        raise RequestError("this model has no attention (it decodes from a summary of its input), so there is no "
                           "attention to return")
    return decoding_config(module.search_config, options.beam, options.n_best), options.attention


def generation_card(module: nn.Module) -> dict[str, Any]:
    """What a generating model's card says of its decoding: whether it has attention, and its search settings."""
    return {"attention": module.decoder.attention is not None, "search": dataclasses.asdict(module.search_config)}


@dataclass(frozen=True)
class Endpoint:
    """One served route of a task.

    Attributes:
        route: `POST /v1/{route}` ("translate", "caption").
        summary: one line for the API documentation.
        verb: what the web page's button says ("Translate").
        input_kind: what the web page offers for input: "text" (a text box) or "image" (a file chooser).
        request_model: the request's options (a SearchOptions subclass: field types, bounds, defaults,
            documentation); the JSON body, or a multipart request's form fields.
        prepare: (module, options, uploads, limits) -> the request's model inputs, in order.
        decode: (module, inputs, settings, keep attention, device) -> one output per input (an n-best list of
            hypotheses for a task that generates).
        respond: (module, input, its output, options) -> the input's result (JSON-ready; see `result`).
        upload_field: the multipart field that carries files (None: JSON requests only).
        settings: (module, options, limits) -> (settings, keep attention) of a request: requests with equal ones
            share batches, and `decode` receives them (default: the search settings, `search_settings`); a
            RequestError refuses the request.
        card: module -> what the model card says of how it decodes (default: `generation_card`).
    """

    route: str
    summary: str
    verb: str
    input_kind: Literal["text", "image"]
    request_model: type[SearchOptions]
    prepare: Callable[[nn.Module, Any, list[Upload], Limits], list[Any]]
    decode: Callable[[nn.Module, list[Any], Any, bool, torch.device], list[Any]]
    respond: Callable[[nn.Module, Any, Any, Any], dict[str, Any]]
    upload_field: str | None = None
    settings: Callable[[nn.Module, Any, Limits], tuple[Any, bool]] = search_settings
    card: Callable[[nn.Module], dict[str, Any]] = generation_card


def check_input_count(count: int, limits: Limits) -> None:
    """Refuses (413) a request of more than `limits.max_inputs` inputs."""
    if count > limits.max_inputs:
        raise RequestError(f"{count} inputs in one request, more than the limit of {limits.max_inputs} (--max-inputs)", 413)


def tokens(vocab: Vocabulary, ids: list[int]) -> list[str]:
    """The vocabulary's tokens of `ids`, one per id (the rows and columns of an attention matrix)."""
    return [vocab.itos[index] for index in ids]


def finite(value: float) -> float | None:
    """A score for JSON: None where it is not a finite number."""
    return value if math.isfinite(value) else None


def result(module: nn.Module, source: str, nbest: list[Hypothesis], options: SearchOptions,
           attention_context: dict[str, Any], **more: Any) -> dict[str, Any]:
    """The result of one input, in the shape every endpoint answers with:

        {"input": its text or file name, **more, "outputs": [{"text", "score"}, ...] (best first),
         "attention": {"output_tokens": [...], "weights": [[...], ...] (one row per output token), **context}}

    `attention` (the best output's; present when asked for) takes `attention_context`, what its columns are (e.g.
    the input's tokens, or the grid of image regions)."""
    answer: dict[str, Any] = {"input": source, **more,
                              "outputs": [{"text": module.to_text(h), "score": finite(h.score)} for h in nbest]}
    if options.attention and nbest and nbest[0].attention is not None:
        best = nbest[0]
        weights: Tensor = best.attention.float().cpu().nan_to_num(0.0)  # (T, S)
        answer["attention"] = {"output_tokens": tokens(module.texts["tgt"].vocab, best.tokens),
                               "weights": [[round(w, 4) for w in row] for row in weights.tolist()], **attention_context}
    return answer
