"""Ragged columns on disk: variable-length integer sequences (token ids) or strings, end to end in one flat
array, with an offsets array (N + 1) and a lengths array (N), as fairseq's binarized datasets.

A corpus of millions of sentences then costs no Python object per sentence: batches are cut from the lengths
(memory-mapped), a batch's rows are a few positional reads through the page cache, and every process that reads
the same files shares those pages (DDP ranks on one node) without holding them in its own resident memory.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, BinaryIO, Sequence

import numpy as np
import torch

from captra.common.text.vocab import PAD_ID

OFFSET_PAIR = struct.Struct("<qq")  # a row's start and end in the offsets file (little-endian int64, as saved)


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
    """The read side of a `RaggedWriter`'s files. The lengths are memory-mapped (read whole, for bucketing); a row
    is read with positional reads (`os.pread`) of its offsets and its values. Those go through the page cache,
    which the processes reading the same files share as they would share a memory map, but they add nothing to a
    process's resident memory: through a memory map, every row read mapped the whole page-cache folio around it
    (512 KiB on the kernel measured), and 40 training batches left most of a 4.5M-pair corpus resident in each
    process. Files are opened at first use (again in each DataLoader worker: nothing open is pickled)."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder, self.meta = folder, meta
        self.dtype = np.dtype(meta["dtype"])
        self._open: tuple[int, int, int, np.ndarray] | None = None

    def _files(self) -> tuple[int, int, int, np.ndarray]:
        """(values file descriptor, offsets file descriptor, the byte where the offsets start, lengths)."""
        if self._open is None:
            name = self.meta["name"]
            offsets = self.folder / f"{name}.offsets.npy"
            with open(offsets, "rb") as handle:  # the .npy header: public readers, to find where the array starts
                version = np.lib.format.read_magic(handle)
                (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(handle)
                start = handle.tell()
            self._open = (os.open(self.folder / f"{name}.bin", os.O_RDONLY), os.open(offsets, os.O_RDONLY), start,
                          np.load(self.folder / f"{name}.lengths.npy", mmap_mode="r"))
        return self._open

    def __len__(self) -> int:
        return int(self.meta["count"])

    @property
    def lengths(self) -> np.ndarray:
        """(N,) int32, memory-mapped."""
        return self._files()[3]

    def rows(self, rows: Sequence[int]) -> list[np.ndarray]:
        """The values of each row."""
        values, offsets, start, _ = self._files()
        size, pread, unpack = self.dtype.itemsize, os.pread, OFFSET_PAIR.unpack
        read = []
        for row in rows:
            first, end = unpack(pread(offsets, 16, start + 8 * int(row)))
            read.append(np.frombuffer(pread(values, (end - first) * size, first * size), dtype=self.dtype))
        return read

    def __getitem__(self, row: int) -> np.ndarray:
        return self.rows([row])[0]

    def padded(self, rows: Sequence[int], prefix: Sequence[int] = (), suffix: Sequence[int] = ()) -> torch.Tensor:
        """(B, T) int64: each row's sequence between `prefix` and `suffix`, padded with <pad> (T >= 1)."""
        sequences = self.rows(rows)
        width = max(1, max((len(s) for s in sequences), default=0) + len(prefix) + len(suffix))
        batch = np.full((len(sequences), width), PAD_ID, dtype=np.int64)
        start = len(prefix)
        for index, sequence in enumerate(sequences):
            end = start + len(sequence)
            batch[index, :start] = prefix
            batch[index, start:end] = sequence
            batch[index, end : end + len(suffix)] = suffix
        return torch.from_numpy(batch)

    def strings(self, rows: Sequence[int]) -> list[str]:
        """A column of UTF-8 bytes: each row's string."""
        return [values.tobytes().decode("utf-8") for values in self.rows(rows)]

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder, "meta": self.meta, "dtype": self.dtype, "_open": None}

    def __del__(self) -> None:
        if getattr(self, "_open", None) is not None:
            os.close(self._open[0])
            os.close(self._open[1])


def utf8_column(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings as a uint8 column's rows: (bytes,) uint8, all of them end to end, and (N,) int32 byte lengths."""
    encoded = [text.encode("utf-8") for text in texts]
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), np.fromiter(map(len, encoded), np.int32, len(encoded))


def write_strings(writer: RaggedWriter, texts: Sequence[str]) -> None:
    """Append strings to a uint8 column."""
    writer.append(*utf8_column(texts))
