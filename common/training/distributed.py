"""Processes of a distributed job: this process's rank, and exact evaluation across ranks."""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def process_rank() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def join_process_group() -> tuple[int, int]:
    """(rank, world size) for a command started by torchrun outside Lightning (WORLD_SIZE > 1): joins the
    process group first (NCCL on GPUs, gloo on CPUs)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return process_rank()


def gather_by_id(records: list[tuple[int, Any]]) -> list[Any]:
    """(example id, value) pairs from every rank -> values sorted by id, one per id.

    Our evaluation loaders give every example to exactly one rank (common.batching.ShardSampler); if a
    DistributedSampler was used instead, it pads with repeated examples, and keeping the first value of
    each id drops them. Either way the score equals the single-process score.
    """
    rank, world = process_rank()
    if world > 1:
        gathered: list[list[tuple[int, Any]]] = [[] for _ in range(world)]
        dist.all_gather_object(gathered, records)
        records = [record for part in gathered for record in part]
    unique: dict[int, Any] = {}
    for example_id, value in records:
        unique.setdefault(example_id, value)
    return [unique[example_id] for example_id in sorted(unique)]
