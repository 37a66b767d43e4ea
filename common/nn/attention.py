"""Masked attention over a Memory: additive (Bahdanau) and multiplicative (Luong dot / general).

Each attention projects the memory into keys once per batch (`project_keys`) and then scores the
decoder queries of each step against them (`forward`), so the per-step cost is a single small matmul.

Queries come in groups: K consecutive queries share one memory row (the K hypotheses of a beam),
so beam search never copies the memory per hypothesis. Teacher forcing and greedy search have K = 1.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

AttentionKind = Literal["additive", "dot", "general", "none"]

# At inference on the CPU, additive attention's (B, K, S, A) energy is computed this many elements at
# a time in one reused buffer: 4 MiB stays in the cache, where one large buffer per step (50 MB for a
# 100-image caption beam) is memory-bound, and fresh chunks per step depend on the allocator's mood
# (benchmarks/attention_energy.py; docs/RESULTS.md).
CPU_ENERGY_CHUNK = 1 << 20


class Attention(nn.Module):
    """Base class: `forward(query, keys, states, mask)` -> context (B*K, D), weights (B*K, S)."""

    def project_keys(self, states: Tensor) -> Tensor:
        """(B, S, D) memory states -> (B, S, A) keys."""
        raise NotImplementedError

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """(B, K, H) queries, (B, S, A) keys -> (B, K, S) unnormalised scores."""
        raise NotImplementedError

    def forward(self, query: Tensor, keys: Tensor, states: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """query (B*K, H); keys (B, S, A), states (B, S, D), mask (B, S) -> context (B*K, D), weights (B*K, S)."""
        batch = states.size(0)
        if query.size(0) % batch:
            raise ValueError(f"{query.size(0)} queries cannot be grouped over {batch} memory rows")
        grouped = query.view(batch, query.size(0) // batch, query.size(1))  # (B, K, H)
        scores = self.score(grouped, keys)  # (B, K, S)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, K, S); exactly 0 on padding
        context = torch.bmm(weights, states)  # (B, K, D)
        return context.flatten(0, 1), weights.flatten(0, 1)


class AdditiveAttention(Attention):
    """Bahdanau et al. (2015): score = v^T tanh(W_k s + W_q q + b).

    Computed as 2 v^T sigmoid(2 (W_k s + W_q q + b)), since tanh(x) = 2 sigmoid(2x) - 1: the two differ by
    the constant v^T 1 per query, which the softmax ignores, so the weights are the same. The elementwise
    nonlinearity over (B, K, S, A) is the largest cost of batched beam search, and PyTorch's CPU sigmoid
    is several times faster than its tanh (benchmarks/attention_energy.py). The keys hold 2 W_k s.
    """

    def __init__(self, query_size: int, memory_size: int, attention_size: int) -> None:
        super().__init__()
        self.key_layer = nn.Linear(memory_size, attention_size, bias=False)
        self.query_layer = nn.Linear(query_size, attention_size, bias=True)
        self.energy_layer = nn.Linear(attention_size, 1, bias=False)

    def float_layers(self) -> list[nn.Module]:
        """Layers that stay in float under int8 quantisation: v is read as a vector by the CPU scorer."""
        return [self.energy_layer]

    def project_keys(self, states: Tensor) -> Tensor:
        return self.key_layer(states).mul_(2.0)  # (B, S, A): 2 W_k s

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        projected_query = self.query_layer(query).mul_(2.0).unsqueeze(2)  # (B, K, 1, A): 2 (W_q q + b)
        if keys.device.type == "cpu" and not torch.is_grad_enabled():
            return self._score_in_chunks(projected_query, keys)
        energy = (keys.unsqueeze(1) + projected_query).sigmoid_()  # (B, K, S, A)
        return self.energy_layer(energy).squeeze(3).mul_(2.0)  # (B, K, S)

    def _score_in_chunks(self, projected_query: Tensor, keys: Tensor) -> Tensor:
        """Inference on the CPU: the energy a few memory rows at a time, in one reused buffer that stays
        in the cache. projected_query (B, K, 1, A), keys (B, S, A) -> (B, K, S)."""
        batch, group, positions, size = keys.size(0), projected_query.size(1), keys.size(1), keys.size(2)
        rows = max(1, min(batch, CPU_ENERGY_CHUNK // (group * positions * size)))
        dtype = torch.promote_types(keys.dtype, projected_query.dtype)  # bfloat16 under autocast
        buffer = keys.new_empty(rows, group, positions, size, dtype=dtype)
        scores = keys.new_empty(batch, group, positions, dtype=dtype)
        energy_weight = self.energy_layer.weight.view(-1).to(dtype)  # (A,)
        for start in range(0, batch, rows):
            end = min(start + rows, batch)
            energy = torch.add(keys[start:end].unsqueeze(1), projected_query[start:end], out=buffer[: end - start])
            torch.mv(energy.sigmoid_().view(-1, size), energy_weight, out=scores[start:end].view(-1))
        return scores.mul_(2.0)


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
        return torch.bmm(query, keys.transpose(1, 2))  # (B, K, S)


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
