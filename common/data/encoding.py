"""Tokenizing a corpus once, in several processes: rows of text columns -> ragged columns on disk.

Each column is either text encoded by a `TextPipeline` (token ids, plus a flag per row for blank text and the
count of every vocabulary entry, which the corpus statistics need) or raw text kept as it is (references,
read when scoring). Rows stream through: chunks of them go to `num_proc` worker processes and come back in
order, with a bounded number in flight, so memory does not grow with the corpus.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from captra.common.data.ragged import RaggedWriter, id_dtype, utf8_column
from captra.common.text.pipeline import TextPipeline
from captra.common.text.vocab import SPECIALS, UNK_ID

CHUNK_ROWS = 20_000


def default_num_proc() -> int:
    """The cores this process may run on (a SLURM or taskset allocation, not the whole machine)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class Column:
    """One column of a prepared split: `name` on disk; encoded by `pipeline`, or raw UTF-8 text without one."""

    name: str
    pipeline: TextPipeline | None = None


@dataclass
class _Encoded:
    """One column of a chunk of rows, encoded."""

    flat: np.ndarray  # (tokens,): every row's ids (or UTF-8 bytes) end to end
    lengths: np.ndarray  # (rows,) int32
    blank: np.ndarray | None = None  # (rows,) bool: text that is empty or whitespace only
    counts: np.ndarray | None = None  # (vocabulary,) int64: how often each id occurs


_worker_pipelines: list[TextPipeline | None] = []


def _start_worker(states: list[dict[str, Any] | None]) -> None:
    global _worker_pipelines
    _worker_pipelines = [None if state is None else TextPipeline.from_state(state) for state in states]


def _encode_column(texts: list[str], pipeline: TextPipeline | None) -> _Encoded:
    if pipeline is None:
        return _Encoded(*utf8_column(texts))
    size = len(pipeline.vocab)
    ids = pipeline.encode_batch(texts)
    lengths = np.fromiter(map(len, ids), np.int32, len(ids))
    flat = np.fromiter(itertools.chain.from_iterable(ids), id_dtype(size), int(lengths.sum()))
    blank = np.fromiter((not text.strip() for text in texts), bool, len(texts))
    return _Encoded(flat, lengths, blank, np.bincount(flat, minlength=size).astype(np.int64))


def _encode_rows(rows: list[tuple[str, ...]], pipelines: Sequence[TextPipeline | None]) -> list[_Encoded]:
    return [_encode_column([row[column] for row in rows], pipeline) for column, pipeline in enumerate(pipelines)]


def _encode_chunk(rows: list[tuple[str, ...]]) -> list[_Encoded]:
    """In a worker: the rows encoded with the pipelines `_start_worker` built there."""
    return _encode_rows(rows, _worker_pipelines)


def _chunks(rows: Iterable[tuple[str, ...]]) -> Iterator[list[tuple[str, ...]]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, CHUNK_ROWS)):
        yield chunk


def _results(chunks: Iterator[list[tuple[str, ...]]], pipelines: Sequence[TextPipeline | None], num_proc: int
             ) -> Iterator[tuple[int, list[_Encoded]]]:
    """(rows, encoded columns) of each chunk, in order; chunks after the first go to a pool when num_proc > 1
    (its workers rebuild the pipelines from their plain-data states)."""
    first = next(chunks, None)
    if first is None:
        return
    yield len(first), _encode_rows(first, pipelines)
    second = next(chunks, None)
    if second is None:
        return
    if num_proc <= 1:
        for chunk in itertools.chain([second], chunks):
            yield len(chunk), _encode_rows(chunk, pipelines)
        return
    states = [None if pipeline is None else pipeline.to_state() for pipeline in pipelines]
    # fork: workers start at once and need nothing of the parent but the pipelines (no torch, no CUDA state)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with context.Pool(num_proc, initializer=_start_worker, initargs=(states,)) as pool:
        pending: deque = deque()
        for chunk in itertools.chain([second], chunks):
            pending.append((len(chunk), pool.apply_async(_encode_chunk, (chunk,))))
            if len(pending) >= 2 * num_proc:  # bounded: the reader never runs far ahead of the workers
                rows, result = pending.popleft()
                yield rows, result.get()
        while pending:
            rows, result = pending.popleft()
            yield rows, result.get()


def encode_columns(
    rows: Iterable[tuple[str, ...]], columns: Sequence[Column], folder: Path, num_proc: int, what: str,
    progress: Callable[[], float] = lambda: 0.0, on_progress: Callable[[float], None] = lambda fraction: None,
) -> dict[str, dict[str, Any]]:
    """Write every column of `rows` to `folder` as ragged arrays (`common/data/ragged.py`); returns per column its
    `Ragged` metadata and, for encoded columns, `tokens`, `unk`, `blank_rows` and `types_seen` (vocabulary
    entries that occur). `progress()` tells the fraction of the input read so far (0..1), shown as a progress
    bar and reported to `on_progress`; a throughput line ends it."""
    writers = [RaggedWriter(folder, column.name, np.uint8 if column.pipeline is None else id_dtype(len(column.pipeline.vocab)))
               for column in columns]
    blanks: list[list[np.ndarray]] = [[] for _ in columns]
    counts: list[np.ndarray | None] = [None for _ in columns]
    start, total = time.perf_counter(), 0
    try:
        with tqdm(total=100.0, desc=f"preparing {what}", unit="%", file=sys.stderr, disable=None,
                  bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}") as bar:
            for count, encoded in _results(_chunks(rows), [column.pipeline for column in columns], num_proc):
                for index, column in enumerate(encoded):
                    writers[index].append(column.flat, column.lengths)
                    if column.blank is not None:
                        blanks[index].append(column.blank)
                        counts[index] = column.counts if counts[index] is None else counts[index] + column.counts
                total += count
                fraction = progress()
                on_progress(fraction)
                bar.update(100.0 * fraction - bar.n)
                bar.set_postfix_str(f"{total:,} rows", refresh=False)
    except BaseException:  # e.g. a full disk: close the files (the caller removes them)
        for writer in writers:
            writer.discard()
        raise
    seconds = time.perf_counter() - start
    processes = num_proc if total > CHUNK_ROWS else 1  # one chunk is encoded without a pool
    print(f"captra: {what}: {total:,} rows tokenized in {seconds:.1f} s ({total / max(seconds, 1e-9):,.0f} rows/s, "
          f"{processes} process{'es' if processes > 1 else ''})", file=sys.stderr)
    result = {}
    for index, column in enumerate(columns):
        meta = writers[index].close()
        if column.pipeline is not None:
            blank = np.concatenate(blanks[index]) if blanks[index] else np.zeros(0, bool)
            np.save(folder / f"{column.name}.blank.npy", blank)
            used = counts[index] if counts[index] is not None else np.zeros(len(column.pipeline.vocab), np.int64)
            meta.update(tokens=int(used.sum()), unk=int(used[UNK_ID]), blank_rows=int(blank.sum()),
                        types_seen=int((used[len(SPECIALS):] > 0).sum()), vocabulary=len(column.pipeline.vocab))
        result[column.name] = meta
    return result
