"""Poolings: an encoder's states over a sentence -> one vector for the classifier.

    last       the last forward (and first backward) states of the top layer (Memory.summary)
    mean       the average of the states of the real positions
    max        the element-wise maximum over the real positions (Conneau et al. 2017's InferSent)
    attention  structured self-attention (Lin et al. 2017, one hop; Yang et al. 2016's word attention): a small
               MLP scores each state, a softmax over the real positions weighs them; the weights are returned so
               that they can be shown
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from captra.common.nn.memory import Memory

PoolingName = Literal["last", "mean", "max", "attention"]


class LastPooling(nn.Module):
    def forward(self, memory: Memory) -> tuple[Tensor, Tensor | None]:
        return memory.summary, None  # (B, D)


class MeanPooling(nn.Module):
    def forward(self, memory: Memory) -> tuple[Tensor, Tensor | None]:
        mask = memory.mask.unsqueeze(-1).to(memory.states.dtype)  # (B, S, 1)
        return (memory.states * mask).sum(1) / mask.sum(1).clamp(min=1), None  # (B, D)


class MaxPooling(nn.Module):
    def forward(self, memory: Memory) -> tuple[Tensor, Tensor | None]:
        states = memory.states.masked_fill(~memory.mask.unsqueeze(-1), float("-inf"))  # (B, S, D)
        return states.max(dim=1).values, None  # (B, D)


class AttentionPooling(nn.Module):
    """weights = softmax_s(w2 · tanh(W1 h_s)) over the real positions; pooled = Σ_s weights_s h_s."""

    def __init__(self, size: int, attention_size: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(size, attention_size)  # W1 (Lin et al.'s W_s1)
        self.score = nn.Linear(attention_size, 1, bias=False)  # w2 (W_s2, one hop)

    def forward(self, memory: Memory) -> tuple[Tensor, Tensor | None]:
        scores = self.score(torch.tanh(self.hidden(memory.states))).squeeze(-1)  # (B, S)
        weights = scores.masked_fill(~memory.mask, float("-inf")).softmax(dim=-1)  # (B, S), 0 on padding
        return torch.bmm(weights.unsqueeze(1), memory.states).squeeze(1), weights  # (B, D), (B, S)


def build_pooling(name: PoolingName, size: int, attention_size: int) -> nn.Module:
    """The pooling `name` over states `size` wide (attention_size: the attention MLP's hidden units)."""
    if name == "attention":
        return AttentionPooling(size, attention_size)
    poolings = {"last": LastPooling, "mean": MeanPooling, "max": MaxPooling}
    if name not in poolings:
        raise ValueError(f"model.classifier.pooling {name!r}: one of last, mean, max, attention")
    return poolings[name]()
