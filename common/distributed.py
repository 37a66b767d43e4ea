"""Exact distributed evaluation: gather per-example outputs from all ranks, once each."""

from __future__ import annotations

from typing import Any

import torch.distributed as dist


def gather_by_id(records: list[tuple[int, Any]]) -> list[Any]:
    """(example id, value) pairs from every rank -> values sorted by id, one per id.

    Our evaluation loaders give every example to exactly one rank (common.batching.ShardSampler); if a
    DistributedSampler was used instead, it pads with repeated examples, and keeping the first value of
    each id drops them. Either way the score equals the single-process score.
    """
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        gathered: list[list[tuple[int, Any]]] = [[] for _ in range(dist.get_world_size())]
        dist.all_gather_object(gathered, records)
        records = [record for part in gathered for record in part]
    unique: dict[int, Any] = {}
    for example_id, value in records:
        unique.setdefault(example_id, value)
    return [unique[example_id] for example_id in sorted(unique)]
