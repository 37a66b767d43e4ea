"""Length-bucketed batches (sentences of similar length share a batch, so little is padding) and padding."""

from __future__ import annotations

import random
from typing import Iterable, Iterator, Sequence

import torch
from torch.utils.data import BatchSampler, Sampler

from common.vocab import PAD_ID


class BucketBatchSampler(BatchSampler):
    """Takes indices from `sampler` in pools of `pool_factor * batch_size`, sorts each pool by
    length, cuts it into batches and shuffles the batches.

    It follows BatchSampler's API, so under DDP Lightning injects a DistributedSampler as
    `sampler` and every rank buckets its own equal share (same number of batches per rank).
    """

    def __init__(
        self,
        sampler: Sampler[int] | Iterable[int],
        batch_size: int,
        drop_last: bool,
        lengths: Sequence[int],
        pool_factor: int = 50,
        seed: int = 0,
    ) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.lengths = lengths
        self.pool_factor = pool_factor
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        pool_size = self.batch_size * self.pool_factor
        total = len(self.sampler)  # type: ignore[arg-type]
        pools = [min(pool_size, total - start) for start in range(0, total, pool_size)]
        if self.drop_last:
            return sum(pool // self.batch_size for pool in pools)
        return sum(-(-pool // self.batch_size) for pool in pools)

    def __iter__(self) -> Iterator[list[int]]:
        indices = list(self.sampler)
        pool_size = self.batch_size * self.pool_factor
        batches: list[list[int]] = []
        for start in range(0, len(indices), pool_size):
            pool = sorted(indices[start : start + pool_size], key=lambda i: self.lengths[i])
            batches.extend(pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size))
        if self.drop_last:
            batches = [batch for batch in batches if len(batch) == self.batch_size]
        random.Random(self.seed + self.epoch).shuffle(batches)
        self.epoch += 1
        return iter(batches)


def pad(sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """Ragged id lists -> (B, T) tensor padded with <pad>."""
    batch = torch.full((len(sequences), max(1, max(len(s) for s in sequences))), PAD_ID, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        batch[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return batch
