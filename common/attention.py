"""Masked attention over a Memory: additive (Bahdanau) and multiplicative (Luong dot / general).

Each attention projects the memory into keys once per batch (`project_keys`) and then scores one
decoder query per step against them (`forward`), so the per-step cost is a single small matmul.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

AttentionKind = Literal["additive", "dot", "general", "none"]


class Attention(nn.Module):
    """Base class: `forward(query, memory)` -> context (B, D), weights (B, S)."""

    def project_keys(self, states: Tensor) -> Tensor:
        """(B, S, D) memory states -> (B, S, A) keys."""
        raise NotImplementedError

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """(B, H) query, (B, S, A) keys -> (B, S) unnormalised scores."""
        raise NotImplementedError

    def forward(self, query: Tensor, keys: Tensor, states: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        scores = self.score(query, keys)  # (B, S)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, S); exactly 0 on padding
        context = torch.bmm(weights.unsqueeze(1), states).squeeze(1)  # (B, D)
        return context, weights


class AdditiveAttention(Attention):
    """Bahdanau et al. (2015): score = v^T tanh(W_k s + W_q q)."""

    def __init__(self, query_size: int, memory_size: int, attention_size: int) -> None:
        super().__init__()
        self.key_layer = nn.Linear(memory_size, attention_size, bias=False)
        self.query_layer = nn.Linear(query_size, attention_size, bias=True)
        self.energy_layer = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, states: Tensor) -> Tensor:
        return self.key_layer(states)  # (B, S, A)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        projected_query = self.query_layer(query).unsqueeze(1)  # (B, 1, A)
        return self.energy_layer(torch.tanh(keys + projected_query)).squeeze(2)  # (B, S)


class DotAttention(Attention):
    """Luong et al. (2015) dot: score = s . q (memory and query sizes must match)."""

    def __init__(self, query_size: int, memory_size: int) -> None:
        super().__init__()
        if query_size != memory_size:
            raise ValueError(
                f"dot attention needs the decoder hidden size ({query_size}) to equal the memory size "
                f"({memory_size}); use 'general' or 'additive' attention instead"
            )

    def project_keys(self, states: Tensor) -> Tensor:
        return states  # (B, S, D)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(keys, query.unsqueeze(2)).squeeze(2)  # (B, S)


class GeneralAttention(DotAttention):
    """Luong et al. (2015) general: score = (W s) . q."""

    def __init__(self, query_size: int, memory_size: int) -> None:
        nn.Module.__init__(self)
        self.key_layer = nn.Linear(memory_size, query_size, bias=False)

    def project_keys(self, states: Tensor) -> Tensor:
        return self.key_layer(states)  # (B, S, H)


def build_attention(kind: AttentionKind, query_size: int, memory_size: int, attention_size: int) -> Attention | None:
    """The attention named by `kind`; None for 'none' (Show and Tell / Sutskever seq2seq)."""
    if kind == "additive":
        return AdditiveAttention(query_size, memory_size, attention_size)
    if kind == "dot":
        return DotAttention(query_size, memory_size)
    if kind == "general":
        return GeneralAttention(query_size, memory_size)
    if kind == "none":
        return None
    raise ValueError(f"unknown attention {kind!r}; expected additive, dot, general or none")
