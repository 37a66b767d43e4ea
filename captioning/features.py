"""Region features of a frozen CNN, computed once and cached on disk (fp16, memory-mapped).

A cache file is keyed by a hash of the backbone (name, weights, input spec) and the image list
(paths, sizes, modification times): any change gives a new key, so a stale cache is never read.
Images that cannot be read are recorded in the cache's metadata and skipped by the datasets.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from captra.captioning.encoder import ImageEncoder
from captra.captioning.images import load_image, image_transform
from captra.common.textfile import DataError

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "captra" / "features"


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


@torch.inference_mode()
def build_features(encoder: ImageEncoder, paths: list[Path], target: Path, batch_size: int, num_workers: int) -> dict[int, str]:
    """Run the frozen CNN over `paths` into `target` (.npy); returns {row: reason} for unreadable images."""
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    loader = DataLoader(_ImageFiles(paths, encoder), batch_size=batch_size, num_workers=min(num_workers, 1),
                        collate_fn=_keep_batch)  # one worker decodes JPEGs; the CNN needs the other cores
    partial = target.with_suffix(".partial.npy")
    array = None
    bad: dict[int, str] = {}
    with tqdm(total=len(paths), desc=f"caching CNN features ({target.stem[:8]})", unit="img", file=sys.stderr, disable=None) as bar:
        for items in loader:
            good = [(i, x) for i, x, _ in items if x is not None]
            bad.update({i: reason for i, _, reason in items if reason is not None})
            if good:
                regions = encoder.regions(torch.stack([x for _, x in good]).to(device))  # (b, S, C)
                if array is None:
                    array = np.lib.format.open_memmap(partial, "w+", np.float16, (len(paths), *regions.shape[1:]))
                array[[i for i, _ in good]] = regions.cpu().half().numpy()
            bar.update(len(items))
    encoder.train(was_training)
    if array is None:
        raise DataError(f"none of the {len(paths)} images could be read (first: {next(iter(bad.values()), '')})")
    array.flush()
    del array
    os.replace(partial, target)  # atomic: a half-written cache is never taken for a finished one
    return bad


def cached_features(
    encoder: ImageEncoder, paths: list[Path], cache_dir: Path, batch_size: int = 64, num_workers: int = 0
) -> FeatureStore:
    """The features of `paths`, from the cache when it holds this exact backbone and image list."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(encoder, paths)
    array_path, meta_path = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
    if array_path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        log.info("feature cache hit: %s (%d images)", array_path, meta["images"])
        return FeatureStore(array_path, {int(row): reason for row, reason in meta["bad"].items()})
    bad = build_features(encoder, paths, array_path, batch_size, num_workers)
    meta = {"images": len(paths), "backbone": encoder.config.backbone, "size": encoder.spec.size, "bad": bad}
    meta_path.write_text(json.dumps(meta, indent=1))
    return FeatureStore(array_path, bad)
