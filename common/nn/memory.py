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

    @classmethod
    def empty(cls, summary: Tensor) -> "Memory":
        """A memory with no positions, for a decoder without a source (a language model; attention `none`): the
        batch size, device and length limits of a search come from it as from any memory (length 0: at most
        max_len_b tokens). summary (B, D') only initialises the decoder state; zeros give the decoder's learned
        start state (its initial layers' biases)."""
        batch = summary.size(0)
        return cls(states=summary.new_zeros(batch, 0, 0), mask=torch.zeros(batch, 0, dtype=torch.bool, device=summary.device),
                   summary=summary)

    @property
    def lengths(self) -> Tensor:
        """(B,) number of real positions."""
        return self.mask.sum(dim=1)

    def select(self, index: Tensor, out: "Memory | None" = None) -> "Memory":
        """Rows `index` (K,) of every tensor (e.g. drops finished sentences).

        With `out` (a memory of at least K rows and the same other sizes, not this one), the rows are
        written into its first K rows instead of new tensors: beam search compacts its memory many
        times per batch, and a fresh allocation the size of a caption batch's memory costs page faults.
        """

        def rows(tensor: Tensor, into: Tensor | None) -> Tensor:
            if into is None:
                return tensor.index_select(0, index)
            return torch.index_select(tensor, 0, index, out=into[: index.numel()])

        return Memory(
            states=rows(self.states, None if out is None else out.states),
            mask=rows(self.mask, None if out is None else out.mask),
            summary=rows(self.summary, None if out is None else out.summary),
            keys=None if self.keys is None else rows(self.keys, None if out is None else out.keys),
        )

    def with_keys(self, keys: Tensor) -> "Memory":
        return replace(self, keys=keys)


def padding_mask(lengths: Tensor, max_length: int | None = None) -> Tensor:
    """(B,) lengths -> (B, S) bool mask, True at real positions."""
    max_length = int(lengths.max()) if max_length is None else max_length
    positions = torch.arange(max_length, device=lengths.device)  # (S,)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)  # (B, S)
