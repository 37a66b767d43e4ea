"""Ragged columns on disk: variable-length integer sequences (token ids) or strings, end to end in one flat
memory-mapped array, with an offsets array (N + 1) and a lengths array (N), as fairseq's binarized datasets.

A corpus of millions of sentences then costs no Python object per sentence: a batch is a few slices out of the
memory map, and every process that opens the same files shares their pages (DDP ranks on one node).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, Sequence

import numpy as np
import torch

from captra.common.vocab import PAD_ID


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest dtype that holds every id of a vocabulary: uint16 (half of int32's disk and pages) up to 65,536."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.int32)


class RaggedWriter:
    """Appends sequences to `<folder>/<name>.bin`; `close()` writes `<name>.offsets.npy` and `<name>.lengths.npy`
    and returns what a `Ragged` needs to open them."""

    def __init__(self, folder: Path, name: str, dtype: np.dtype | type) -> None:
        self.folder, self.name, self.dtype = folder, name, np.dtype(dtype)
        self._file: BinaryIO = open(folder / f"{name}.bin", "wb")
        self._lengths: list[np.ndarray] = []

    def append(self, flat: np.ndarray, lengths: np.ndarray) -> None:
        """Sequences given end to end (`flat`) with their lengths (sum(lengths) == len(flat))."""
        self._file.write(np.ascontiguousarray(flat, dtype=self.dtype).tobytes())
        self._lengths.append(np.asarray(lengths, dtype=np.int32))

    def discard(self) -> None:
        """Close the file without finishing it (preparation failed; the caller removes the folder)."""
        self._file.close()

    def close(self) -> dict[str, Any]:
        self._file.close()
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int32)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        np.save(self.folder / f"{self.name}.lengths.npy", lengths)
        np.save(self.folder / f"{self.name}.offsets.npy", offsets)
        return {"name": self.name, "dtype": self.dtype.str, "count": len(lengths), "total": int(offsets[-1])}


class Ragged:
    """The read side of a `RaggedWriter`'s files, opened at first use (again in each DataLoader worker: the
    memory maps are never pickled)."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder, self.meta = folder, meta
        self._maps: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _open(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._maps is None:
            name, dtype = self.meta["name"], np.dtype(self.meta["dtype"])
            flat = (np.memmap(self.folder / f"{name}.bin", dtype=dtype, mode="r") if self.meta["total"]
                    else np.zeros(0, dtype))  # numpy cannot map an empty file
            offsets = np.load(self.folder / f"{name}.offsets.npy", mmap_mode="r")
            lengths = np.load(self.folder / f"{name}.lengths.npy", mmap_mode="r")
            self._maps = (flat, offsets, lengths)
        return self._maps

    def __len__(self) -> int:
        return int(self.meta["count"])

    @property
    def lengths(self) -> np.ndarray:
        """(N,) int32, memory-mapped."""
        return self._open()[2]

    def __getitem__(self, row: int) -> np.ndarray:
        flat, offsets, _ = self._open()
        return flat[offsets[row] : offsets[row + 1]]

    def padded(self, rows: Sequence[int], prefix: Sequence[int] = (), suffix: Sequence[int] = ()) -> torch.Tensor:
        """(B, T) int64: each row's sequence between `prefix` and `suffix`, padded with <pad> (T >= 1)."""
        lengths = self.lengths[np.asarray(rows)] + len(prefix) + len(suffix)
        batch = np.full((len(rows), max(1, int(lengths.max(initial=0)))), PAD_ID, dtype=np.int64)
        start = len(prefix)
        for index, row in enumerate(rows):
            sequence = self[row]
            end = start + len(sequence)
            batch[index, :start] = prefix
            batch[index, start:end] = sequence
            batch[index, end : lengths[index]] = suffix
        return torch.from_numpy(batch)

    def strings(self, rows: Sequence[int]) -> list[str]:
        """A column of UTF-8 bytes: each row's string."""
        return [self[row].tobytes().decode("utf-8") for row in rows]

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder, "meta": self.meta, "_maps": None}


def write_strings(writer: RaggedWriter, texts: Sequence[str]) -> None:
    """Append strings to a uint8 column."""
    encoded = [text.encode("utf-8") for text in texts]
    writer.append(np.frombuffer(b"".join(encoded), dtype=np.uint8), np.fromiter(map(len, encoded), np.int32, len(encoded)))
