"""Memory: what an encoder hands the decoder — a bank of vectors to attend over, and a summary."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor


@dataclass
class Memory:
    """Encoder output for a batch.

    states:  (B, S, D)  image regions or source positions
    mask:    (B, S)     True where a position is real, False for padding
    summary: (B, D')    what initialises the decoder state
    keys:    (B, S, A)  attention keys, projected once per batch by the decoder (None until then)
    """

    states: Tensor
    mask: Tensor
    summary: Tensor
    keys: Tensor | None = None

    @property
    def lengths(self) -> Tensor:
        """(B,) number of real positions."""
        return self.mask.sum(dim=1)

    def select(self, index: Tensor) -> "Memory":
        """Rows `index` (K,) of every tensor (e.g. drops finished sentences)."""
        return Memory(
            states=self.states.index_select(0, index),
            mask=self.mask.index_select(0, index),
            summary=self.summary.index_select(0, index),
            keys=None if self.keys is None else self.keys.index_select(0, index),
        )

    def with_keys(self, keys: Tensor) -> "Memory":
        return replace(self, keys=keys)


def padding_mask(lengths: Tensor, max_length: int | None = None) -> Tensor:
    """(B,) lengths -> (B, S) bool mask, True at real positions."""
    max_length = int(lengths.max()) if max_length is None else max_length
    positions = torch.arange(max_length, device=lengths.device)  # (S,)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)  # (B, S)
