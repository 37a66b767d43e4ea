"""The lecture decks' criterion for a network predicting a formal language: a string counts as predicted when, at
every scored position, the symbols the model finds probable are exactly the legal ones."""

from __future__ import annotations

import torch
from torch import Tensor


def predicted_symbols(logits: Tensor, threshold: float) -> Tensor:
    """logits (B, T, V) -> (B, T, V) bool: the symbols of probability at least `threshold` at each position."""
    return torch.softmax(logits.float(), dim=-1) >= threshold


def predicted_correctly(logits: Tensor, legal: Tensor, scored: Tensor, real: Tensor, threshold: float) -> Tensor:
    """(B,) bool: whether every scored real position's predicted symbols equal its legal ones.

    logits (B, T, V); legal (B, T, V) bool, the symbols legal after each prefix; scored (B, T) bool, the positions
    that count; real (B, T) bool, False on padding.
    """
    right = (predicted_symbols(logits, threshold) == legal).all(dim=-1)  # (B, T)
    return (right | ~(scored & real)).all(dim=-1)
