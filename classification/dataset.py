"""LabelledSequences: token-id sequences with a class each, batched for the classifier."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from captra.common.data.batching import pad


class LabelledSequences(Dataset):
    """Examples (token ids, class) of one split; `texts` keeps each example's raw text (for reports)."""

    def __init__(self, ids: list[list[int]], labels: list[int], texts: list[str]) -> None:
        if any(not sequence for sequence in ids):
            raise ValueError("every example needs at least one token")
        self.ids, self.labels, self.texts = ids, labels, texts

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def lengths(self) -> np.ndarray:
        """(N,) tokens per example: what training batches are bucketed by."""
        return np.asarray([len(sequence) for sequence in self.ids], dtype=np.int64)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        """A batch: ids (B,) example numbers, src (B, S) token ids padded, src_lengths (B,), label (B,)."""
        rows = [int(i) for i in indices]
        return {"ids": torch.tensor(rows), "src": pad([self.ids[i] for i in rows]),
                "src_lengths": torch.tensor([len(self.ids[i]) for i in rows]),
                "label": torch.tensor([self.labels[i] for i in rows])}
