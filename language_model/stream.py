"""A token stream cut into windows for truncated backpropagation through time (char-rnn's batches).

The stream is cut into `rows` contiguous parts; part r is `<s>` followed by its tokens, read as consecutive windows
of `length` predicted tokens. Window k of part r holds that part's tokens k*length .. (k+1)*length, with one more
token in front (the one before the window; `<s>` for the first): teacher forcing reads window[:-1], the loss
window[1:], so every token of the split is predicted exactly once. Row r's window k+1 continues where window k
ended: batch k of `StreamBatchSampler` holds every row's window k, and a model carries each row's state from one
batch to the next.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from captra.common.training.distributed import process_rank
from captra.common.text.vocab import BOS_ID, PAD_ID


class StreamWindows(Dataset):
    """Windows of a token stream; item `row * windows + k` is row `row`'s window k.

    Args:
        stream: (N,) the split's token ids.
        rows: parts the stream is cut into (of lengths differing by at most one).
        length: tokens each window predicts.
        chars_per_token: characters of the split's text per token (1 for characters): what bits per character
            are counted over.
        carried: whether the windows are read in row order with the state carried (batches then say each
            window's index in its row, `window`, where a model starts a row afresh); false: each window stands
            alone (read in any order, from the start state).
    """

    def __init__(self, stream: np.ndarray, rows: int, length: int, chars_per_token: float = 1.0,
                 carried: bool = True) -> None:
        if len(stream) < rows:
            raise ValueError(f"a stream of {len(stream)} tokens cannot be cut into {rows} rows")
        bounds = np.linspace(0, len(stream), rows + 1).astype(np.int64)
        self.parts = [np.concatenate([[BOS_ID], stream[start:end]]).astype(np.int64)
                      for start, end in zip(bounds[:-1], bounds[1:])]
        self.rows, self.length, self.chars_per_token, self.carried = rows, length, chars_per_token, carried
        self.windows = max(-(-(len(part) - 1) // length) for part in self.parts)  # per row

    def __len__(self) -> int:
        return self.rows * self.windows

    @cached_property
    def lengths(self) -> np.ndarray:
        """(N,) every window's length with its leading token: what training batches are bucketed by."""
        return np.full(len(self), self.length + 1, dtype=np.int64)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        """A batch: tgt (B, length + 1) (`<pad>` past a row's end), chars (B,) the characters they predict, ids (B,)
        and, for carried windows, window (B,) each one's index in its row."""
        tgt = torch.full((len(indices), self.length + 1), PAD_ID, dtype=torch.long)
        windows = []
        for position, index in enumerate(indices):
            row, window = divmod(int(index), self.windows)
            piece = self.parts[row][window * self.length: (window + 1) * self.length + 1]
            if len(piece) > 1:  # a row shorter than the longest has no last window: all padding, nothing predicted
                tgt[position, : len(piece)] = torch.from_numpy(piece)
            windows.append(window)
        predicted = (tgt[:, 1:] != PAD_ID).sum(1).float()
        batch = {"ids": torch.tensor([int(i) for i in indices], dtype=torch.long), "tgt": tgt,
                 "chars": predicted * self.chars_per_token}
        return {**batch, "window": torch.tensor(windows, dtype=torch.long)} if self.carried else batch


class StreamBatchSampler(Sampler[list[int]]):
    """Batch k: window k of every row this process reads (rows rank, rank + world, ...), for k = 0, 1, ...

    Consecutive batches continue each other row by row, so the model's state can be carried. `skip` (set by
    ResumableDataLoader on a resume) skips the first batches of the next epoch, already trained on.
    """

    def __init__(self, dataset: StreamWindows, distributed: bool = True) -> None:
        self.dataset, self.distributed = dataset, distributed
        self.skip = 0

    def _my_rows(self) -> np.ndarray:
        rank, world = process_rank() if self.distributed else (0, 1)
        return np.arange(rank, self.dataset.rows, world)

    def __len__(self) -> int:
        return self.dataset.windows

    def __iter__(self) -> Iterator[list[int]]:
        rows = self._my_rows()
        skip, self.skip = self.skip, 0
        for window in range(skip, self.dataset.windows):
            yield (rows * self.dataset.windows + window).tolist()
