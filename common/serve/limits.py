"""What one request may ask of the server (each limit refuses a request with a 4xx that names it), and how requests
are batched."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Request limits (`captra serve --max-...`).

    Attributes:
        max_body_bytes: a request body larger than this is refused (413) before it is parsed.
        max_inputs: texts or images per request.
        max_text_chars: characters of one text.
        max_image_pixels: width x height of one image, checked from its header before it is decoded (so a
            decompression bomb, a small file of a huge picture, is never decoded).
        max_beam: the largest beam size (and n-best) a request may ask for.
        max_queue: inputs waiting for a model (each served model has its queue), over all clients; a request that
            would exceed it gets 503 with Retry-After instead of a queue that grows without bound.
    """

    max_body_bytes: int = 16 * 2**20
    max_inputs: int = 64
    max_text_chars: int = 5_000
    max_image_pixels: int = 40_000_000
    max_beam: int = 16
    max_queue: int = 512

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1 (got {value})")
        if self.max_queue < self.max_inputs:
            raise ValueError(f"--max-queue ({self.max_queue}) must be at least --max-inputs ({self.max_inputs}), or a "
                             "request of the largest size allowed would never be taken")


@dataclass(frozen=True)
class Batching:
    """Dynamic batching (`--max-batch`, `--max-wait-ms`): inputs decoded together, and how long the first waits."""

    max_batch: int = 32
    max_wait_ms: float = 5.0

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_wait_ms < 0:
            raise ValueError("--max-batch must be at least 1 and --max-wait-ms at least 0")
