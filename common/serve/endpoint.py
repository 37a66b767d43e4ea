"""What a task declares to be served: how a request becomes model inputs and how hypotheses become its answer.

A task's record carries one `Endpoint` (`Task.endpoint`); the server builds `POST /v1/{route}` from it and names no
task. A request goes through the endpoint in four steps:

    request body (JSON, or multipart form fields) --validated by request_model--> options
    options + uploaded files --prepare--> one model input per text / image (RequestError on bad input)
    inputs of many requests with the same (search settings, attention) --decode--> an n-best list per input
    one input + its n-best list --respond--> that input's JSON result

`decode` must be batch-invariant (an input decodes to the same hypotheses alone or in any batch, as captra's
searches are), so that answers equal offline decoding however requests were batched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import torch
from pydantic import BaseModel
from torch import nn

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


@dataclass(frozen=True)
class Endpoint:
    """One served route of a task.

    Attributes:
        route: `POST /v1/{route}` ("translate", "caption").
        summary: one line for the API documentation.
        input_kind: what the web page offers for input: "text" (a text box) or "image" (a file chooser).
        request_model: the request's options (a pydantic model: field types, bounds, defaults, documentation);
            the JSON body, or a multipart request's form fields.
        prepare: (module, options, uploads, limits) -> the request's model inputs, in order.
        search: (module, options, limits) -> (search settings, whether attention is kept).
        decode: (module, inputs, settings, keep attention, device) -> an n-best list per input.
        respond: (module, input, its n-best list, options) -> the input's result (JSON-ready).
        upload_field: the multipart field that carries files (None: JSON requests only).
    """

    route: str
    summary: str
    input_kind: Literal["text", "image"]
    request_model: type[BaseModel]
    prepare: Callable[[nn.Module, Any, list[Upload], Limits], list[Any]]
    search: Callable[[nn.Module, Any, Limits], tuple[SearchConfig, bool]]
    decode: Callable[[nn.Module, list[Any], SearchConfig, bool, torch.device], list[list[Hypothesis]]]
    respond: Callable[[nn.Module, Any, list[Hypothesis], Any], dict[str, Any]]
    upload_field: str | None = None


def check_input_count(count: int, limits: Limits) -> None:
    """Refuses (413) a request of more than `limits.max_inputs` inputs."""
    if count > limits.max_inputs:
        raise RequestError(f"{count} inputs in one request, more than the limit of {limits.max_inputs} (--max-inputs)", 413)


def tokens(vocab: Vocabulary, ids: list[int]) -> list[str]:
    """The vocabulary's tokens of `ids`, one per id (the rows and columns of an attention matrix)."""
    return [vocab.itos[index] for index in ids]


def requested_search(module: nn.Module, beam: int | None, n_best: int, limits: Limits) -> SearchConfig:
    """The checkpoint's search settings with a request's beam and n-best, as the inference commands apply them
    (`decoding_config`); a beam or n-best over `limits.max_beam` is refused."""
    from captra.common.cli.inference import decoding_config

    for name, value in (("beam", beam), ("n_best", n_best)):
        if value is not None and not 1 <= value <= limits.max_beam:
            raise RequestError(f"{name} must be between 1 and {limits.max_beam} (got {value})")
    return decoding_config(module.search_config, beam, n_best)
