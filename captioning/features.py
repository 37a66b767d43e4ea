"""Region features of a frozen CNN, computed once and cached on disk (fp16, memory-mapped).

A cache file is keyed by a hash of the backbone (name, weights, input spec) and the image list
(paths, sizes, modification times): any change gives a new key, so a stale cache is never read.
Images that cannot be read are recorded in the cache's metadata and skipped by the datasets. Under DDP the
ranks compute a missing cache together, each a contiguous share of the images, into one file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from captra.captioning.encoder import ImageEncoder
from captra.captioning.images import load_image, image_transform
from captra.common.training.distributed import process_rank
from captra.common.data.prepared_folder import partial_path, remove_dead_partials
from captra.common.text.files import DataError

log = logging.getLogger(__name__)


def all_gather(value: Any) -> list[Any]:
    """Every rank's `value` (picklable), in rank order; under DDP only."""
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def cache_key(encoder: ImageEncoder, paths: list[Path]) -> str:
    """Hex digest of what the features depend on."""
    digest = hashlib.sha256()
    digest.update(json.dumps([encoder.config.backbone, list(map(str, encoder.spec.__dict__.values()))]).encode())
    for tensor in encoder.backbone.state_dict().values():
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    for path in paths:
        stat = path.stat() if path.is_file() else None
        digest.update(f"{path.resolve()}|{stat and stat.st_size}|{stat and stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


class _ImageFiles(Dataset):
    """(index, image tensor or None, error or None) for each path."""

    def __init__(self, paths: list[Path], encoder: ImageEncoder) -> None:
        self.paths, self.transform = paths, image_transform(encoder.spec)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            return index, self.transform(load_image(self.paths[index])), None
        except DataError as error:
            return index, None, str(error)


def _keep_batch(items: list) -> list:
    return items


class FeatureStore:
    """Cached features (N, S, C) fp16 of one image list, opened lazily in each DataLoader worker."""

    def __init__(self, path: Path, bad: dict[int, str]) -> None:
        self.path, self.bad = path, bad
        self._array: np.ndarray | None = None

    def _open(self) -> np.ndarray:
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r")
        return self._array

    def __getitem__(self, row: int) -> torch.Tensor:
        return self.rows([row])[0]  # (S, C) fp16

    def rows(self, rows: list[int]) -> torch.Tensor:
        """The features of several rows in one copy: (len(rows), S, C) fp16."""
        return torch.from_numpy(self._open()[np.asarray(rows, dtype=np.int64)])

    def __getstate__(self) -> dict:
        return {"path": self.path, "bad": self.bad, "_array": None}  # workers reopen the memory map


class BuildGroup:
    """The processes that compute one feature cache together: under DDP every rank that sees the cache folder
    (all of them on a shared filesystem, else those of its node), each its own contiguous share of the images;
    the group's first process creates the array and renames it into place. Alone: this process."""

    def __init__(self, cache_dir: Path, key: str) -> None:
        rank, world = process_rank()
        self.members, self.rank = [0], 0
        self.host, self.pid = socket.gethostname(), os.getpid()
        if world == 1:
            return
        hosts = all_gather((self.host, self.pid))
        token = hosts[0][1]  # rank 0's pid names the probe
        probe = cache_dir / f".{key}.probe-{hosts[0][0]}-{token}"
        if rank == 0:
            probe.touch()
        dist.barrier()
        shared = all(all_gather(probe.is_file()))
        dist.barrier()
        if rank == 0:
            probe.unlink()
        self.members = list(range(world)) if shared else [r for r in range(world) if hosts[r][0] == self.host]
        self.rank = rank
        self.host, self.pid = hosts[self.members[0]]

    @property
    def leads(self) -> bool:
        return self.rank == self.members[0]

    def share(self, count: int) -> range:
        """This process's rows of `count` images."""
        index, size = self.members.index(self.rank), len(self.members)
        return range(index * count // size, (index + 1) * count // size)

    def barrier(self) -> None:
        if dist.is_available() and dist.is_initialized():
            dist.barrier()

    def merge(self, bad: dict[int, str]) -> dict[int, str]:
        """Every member's unreadable images."""
        if not (dist.is_available() and dist.is_initialized()):
            return bad
        gathered = all_gather(bad)
        return {row: reason for member in self.members for row, reason in gathered[member].items()}


@torch.inference_mode()
def build_features(encoder: ImageEncoder, paths: list[Path], target: Path, batch_size: int, num_workers: int,
                   group: BuildGroup) -> dict[int, str]:
    """Run the frozen CNN over this process's share of `paths` into `target` (.npy), written by the whole `group`
    into one partial file renamed into place at the end; returns {row: reason} for the unreadable images."""
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    partial = partial_path(target, group.host, group.pid)
    if group.leads:
        remove_dead_partials(target)
        size = encoder.spec.size
        shape = encoder.regions(torch.zeros(1, 3, size, size, device=device)).shape[1:]  # (S, C)
        np.lib.format.open_memmap(partial, "w+", np.float16, (len(paths), *shape)).flush()  # zeros: unreadable rows stay so
    group.barrier()
    rows = group.share(len(paths))
    if len(group.members) > 1:
        print(f"captra: rank {group.rank} computes the CNN features of images {rows.start}-{rows.stop - 1} of {len(paths)} "
              f"with {len(group.members) - 1} other process{'es' if len(group.members) > 2 else ''}", file=sys.stderr)
    header = np.load(partial, mmap_mode="r")  # only for the layout: where rows start and how long one is
    start, row_bytes = header.offset, int(np.prod(header.shape[1:])) * header.itemsize
    del header
    loader = DataLoader(_ImageFiles([paths[row] for row in rows], encoder), batch_size=batch_size,
                        num_workers=min(num_workers, 1), collate_fn=_keep_batch)  # one worker decodes JPEGs; the CNN needs the other cores
    bad: dict[int, str] = {}
    # Rows are written with positional writes of exactly their bytes, not through a memory map: on a filesystem
    # shared by several nodes a mapped page that straddles two processes' shares would be written back whole.
    descriptor = os.open(partial, os.O_WRONLY)
    try:
        with tqdm(total=len(rows), desc=f"caching CNN features ({target.stem[:8]})", unit="img", file=sys.stderr,
                  disable=None) as bar:
            for items in loader:
                good = [(rows.start + i, x) for i, x, _ in items if x is not None]
                bad.update({rows.start + i: reason for i, _, reason in items if reason is not None})
                if good:
                    regions = encoder.regions(torch.stack([x for _, x in good]).to(device))  # (b, S, C)
                    for (row, _), features in zip(good, regions.cpu().half().numpy()):  # features: (S, C) fp16
                        os.pwrite(descriptor, features.tobytes(), start + row * row_bytes)
                bar.update(len(items))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
        encoder.train(was_training)
    bad = group.merge(bad)
    group.barrier()
    if len(bad) == len(paths):
        if group.leads:
            partial.unlink(missing_ok=True)
        raise DataError(f"none of the {len(paths)} images could be read (first: {next(iter(bad.values()), '')})")
    if group.leads:
        os.replace(partial, target)  # atomic: a half-written cache is never taken for a finished one
    return bad


def cached_features(
    encoder: ImageEncoder, paths: list[Path], cache_dir: Path, batch_size: int = 64, num_workers: int = 0
) -> FeatureStore:
    """The features of `paths`, from the cache when it holds this exact backbone and image list; else computed
    into it (under DDP by all ranks together, each its share of the images)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(encoder, paths)
    array_path, meta_path = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
    hit = array_path.is_file() and meta_path.is_file()
    if all(all_gather(hit) if process_rank()[1] > 1 else [hit]):  # under DDP: a hit on every rank
        meta = json.loads(meta_path.read_text())
        log.info("feature cache hit: %s (%d images)", array_path, meta["images"])
        return FeatureStore(array_path, {int(row): reason for row, reason in meta["bad"].items()})
    group = BuildGroup(cache_dir, key)
    bad = build_features(encoder, paths, array_path, batch_size, num_workers, group)
    if group.leads:
        meta = {"images": len(paths), "backbone": encoder.config.backbone, "size": encoder.spec.size, "bad": bad}
        partial_meta = partial_path(meta_path, group.host, group.pid)
        partial_meta.write_text(json.dumps(meta, indent=1))
        os.replace(partial_meta, meta_path)  # atomic: a concurrent reader never sees half of it
    group.barrier()
    return FeatureStore(array_path, bad)
