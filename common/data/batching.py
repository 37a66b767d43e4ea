"""Length-bucketed batches (sentences of similar length share a batch, so little is padding) and padding."""

from __future__ import annotations

import random
from typing import Any, Callable, Iterable, Iterator, Sequence, Sized

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler, Sampler

from captra.common.training.distributed import process_rank
from captra.common.text.vocab import PAD_ID


class BucketBatchSampler(BatchSampler):
    """Takes indices from `sampler` in pools of `pool_factor` batches, sorts each pool by length, cuts
    it into batches and shuffles the batches (seeded by seed + epoch).

    Under DDP (torch.distributed initialised) every rank builds the same *global* batches of
    `batch_size x world size` from the same order and takes its share `batch[rank::world]`: DDP then
    trains on exactly the batches one process would with the global batch size, every rank takes the
    same number of steps, and a global batch smaller than the world is padded by repeating its items.
    (If a DistributedSampler was put in as `sampler`, that one already splits the data: no second split.)
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
        self.skip = 0  # batches of the next epoch already trained on before a resume

    def _world(self) -> tuple[int, int]:
        return (0, 1) if isinstance(self.sampler, DistributedSampler) else process_rank()

    def __len__(self) -> int:
        size = self.batch_size * self._world()[1]
        total = len(self.sampler)  # type: ignore[arg-type]
        pools = [min(size * self.pool_factor, total - start) for start in range(0, total, size * self.pool_factor)]
        if self.drop_last:
            return sum(pool // size for pool in pools)
        return sum(-(-pool // size) for pool in pools)

    def __iter__(self) -> Iterator[list[int]]:
        rank, world = self._world()
        size = self.batch_size * world  # the global batch
        # numpy, not Python lists: an epoch of millions of examples costs a few arrays, not an object per index
        order = self.sampler.permutation() if isinstance(self.sampler, EpochRandomSampler) else np.fromiter(self.sampler, np.int64)
        lengths = np.asarray(self.lengths)
        pool_size = size * self.pool_factor
        for start in range(0, len(order), pool_size):  # each pool sorted by length, stably
            pool = order[start : start + pool_size]
            order[start : start + pool_size] = pool[np.argsort(lengths[pool], kind="stable")]
        total = len(order)
        bounds = [(start, min(start + size, pool + pool_size, total))  # batches: slices of a sorted pool
                  for pool in range(0, total, pool_size) for start in range(pool, min(pool + pool_size, total), size)]
        if self.drop_last:
            bounds = [(s, e) for s, e in bounds if e - s == size]
        epoch = getattr(self.sampler, "epoch", self.epoch)  # the sampler's epoch, as Lightning sets it, if it has one
        random.Random(self.seed + epoch).shuffle(bounds)
        self.epoch += 1
        skip, self.skip = self.skip, 0
        for start, end in bounds[skip:]:
            batch = order[start:end].tolist()
            yield (batch * world)[: max(len(batch), world)][rank::world]


class ShardSampler(Sampler[int]):
    """Examples rank, rank + world, ... of a dataset, in order: under DDP every process evaluates its own
    examples and none is evaluated twice (no DistributedSampler padding); all of them in one process."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __iter__(self) -> Iterator[int]:
        rank, world = process_rank()
        return iter(range(rank, self.size, world))

    def __len__(self) -> int:
        rank, world = process_rank()
        return len(range(rank, self.size, world))


class EpochRandomSampler(RandomSampler):
    """A random order that depends only on (seed, epoch), the same on every DDP rank: resuming at an epoch
    boundary replays it exactly. Lightning calls `set_epoch` at every epoch start."""

    def __init__(self, data_source: Sized, seed: int = 0) -> None:
        super().__init__(data_source)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def permutation(self) -> np.ndarray:
        """This epoch's order as one int64 array."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(len(self.data_source), generator=generator).numpy()

    def __iter__(self) -> Iterator[int]:
        return iter(self.permutation().tolist())


def already_collated(batch: Any) -> Any:
    """The collate function of datasets whose `__getitems__` returns the finished batch."""
    return batch


def pad(sequences: Sequence[Sequence[int]]) -> torch.Tensor:
    """Ragged id lists -> (B, T) tensor padded with <pad>."""
    batch = torch.full((len(sequences), max(1, max(len(s) for s in sequences))), PAD_ID, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        batch[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return batch


class ResumableDataLoader(DataLoader):
    """A DataLoader over a BucketBatchSampler that can resume in the middle of an epoch.

    Lightning stores `state_dict()` in checkpoints and, on resume, calls `load_state_dict`; the next
    epoch iterator then skips the batches already trained on, without loading them, so a resumed run
    sees exactly the batches an uninterrupted run would. `trained_batches` reports how many batches of
    the current epoch the training loop has consumed (the loop's count, not the loader's: the loader runs
    ahead by the batches Lightning prefetches).
    """

    def __init__(self, *args: Any, trained_batches: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trained_batches = trained_batches
        self.resume_at = 0

    def __iter__(self) -> Iterator[Any]:
        # A generator: the underlying iterator (and its seed draw) is created lazily at the first batch, which
        # keeps a resumed run's random stream identical to the uninterrupted run's (tests/test_resume.py).
        skip, self.resume_at = self.resume_at, 0
        self.batch_sampler.skip = skip
        if skip:  # the interrupted run drew the iterator's seed before its checkpoint, not now
            with torch.random.fork_rng(devices=[]):
                batches = super().__iter__()
        else:
            batches = super().__iter__()
        yield from batches

    def state_dict(self) -> dict[str, int]:
        return {"batches_trained": self.trained_batches()}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.resume_at = int(state.get("batches_trained", 0))


def resumable_train_loader(
    dataset: Sized, batch_sampler: Any, collate_fn: Callable, num_workers: int, trainer: Any = None,
    pin_memory: bool = False,
) -> ResumableDataLoader:
    """Training batches of `batch_sampler` (one with a `skip` count, e.g. BucketBatchSampler), resumable mid-epoch
    at the batch `trainer`'s fit loop had reached."""

    def trained_batches() -> int:  # batches of this epoch the fit loop has trained on (restored on resume)
        return trainer.fit_loop.epoch_loop.batch_progress.current.processed if trainer is not None else 0

    return ResumableDataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate_fn, num_workers=num_workers,
                               persistent_workers=num_workers > 0, pin_memory=pin_memory,
                               trained_batches=trained_batches)


def bucketed_train_loader(
    dataset: Sized, lengths: Sequence[int], batch_size: int, seed: int, collate_fn: Callable, num_workers: int,
    trainer: Any = None, pin_memory: bool = False,
) -> ResumableDataLoader:
    """Training batches of similar lengths, in an order fixed by (seed, epoch), resumable mid-epoch."""
    sampler = BucketBatchSampler(EpochRandomSampler(dataset, seed), batch_size, False, lengths, seed=seed)
    return resumable_train_loader(dataset, sampler, collate_fn, num_workers, trainer, pin_memory)
