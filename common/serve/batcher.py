"""Dynamic batching: the inputs of concurrent requests decoded together, each request answered with its own.

Requests wait in one queue per served model. One worker thread takes the oldest request, waits up to `max_wait`
for more, and decodes every waiting input that shares its search settings, `max_batch` inputs at a time (a
request larger than that spans batches; requests with other settings wait for the next round, in arrival order).
The endpoint's decode is batch-invariant, so every answer equals offline decoding of the same inputs. The queue
holds at most `max_queue` inputs: a request beyond that is refused at once (`QueueFull`, 503). A client that goes
away does not disturb the batch it was in: its answer is dropped. A batch that fails is decoded again request by
request, so that only a request that fails alone gets the error.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

import torch


# (inputs, key of the settings they share) -> one output per input (an n-best list for a task that generates)
DecodeFunction = Callable[[list[Any], Hashable], list[Any]]


class QueueFull(RuntimeError):
    """The queue holds `max_queue` inputs already; the client should retry later."""


class Stopped(RuntimeError):
    """The server is shutting down and takes no new requests."""


@dataclass
class _Request:
    inputs: list[Any]
    key: Hashable
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    arrived: float = field(default_factory=time.monotonic)
    results: list[Any] = field(default_factory=list)
    in_batch: bool = False  # a share of its inputs is being decoded


class DynamicBatcher:
    """Batches the requests for one model (see the module's docstring)."""

    def __init__(self, decode: DecodeFunction, max_batch: int, max_wait: float, max_queue: int,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.decode, self.max_batch, self.max_wait, self.max_queue = decode, max_batch, max_wait, max_queue
        self.on_batch = on_batch
        self._waiting: deque[_Request] = deque()
        self._queued_inputs = 0
        self._condition = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="captra-batcher", daemon=True)
        self._thread.start()

    @property
    def queued_inputs(self) -> int:
        """Inputs waiting for a batch (the queue depth; those being decoded are not counted)."""
        return self._queued_inputs

    @property
    def alive(self) -> bool:
        """Whether the worker thread runs (and takes requests)."""
        return self._thread.is_alive() and not self._stopping

    async def submit(self, inputs: list[Any], key: Hashable) -> list[Any]:
        """Decode `inputs` (settings `key`) with whatever else is waiting; one output per input, in order."""
        loop = asyncio.get_running_loop()
        request = _Request(list(inputs), key, loop, loop.create_future())
        with self._condition:
            if not self.alive:
                raise Stopped("the server is shutting down" if self._stopping else "the decoding worker has stopped")
            if self._queued_inputs + len(inputs) > self.max_queue:
                raise QueueFull(f"{self._queued_inputs} inputs are waiting (at most {self.max_queue})")
            self._waiting.append(request)
            self._queued_inputs += len(inputs)
            self._condition.notify()
        return await request.future

    def stop(self, timeout: float = 60.0) -> None:
        """Take no more requests, fail those still waiting (the server calls this once the requests in flight have
        been answered or given up), and let the worker finish its batch (up to `timeout` seconds)."""
        with self._condition:
            self._stopping = True
            for request in [r for r in self._waiting if not r.in_batch]:
                self._finish(request, Stopped("the server shut down before this request was decoded"))
            self._condition.notify()
        self._thread.join(timeout)

    # --- the worker thread --------------------------------------------------------------------
    def _work(self) -> None:
        with torch.inference_mode():
            while (batch := self._next_batch()) is not None:
                self._run(*batch)

    def _next_batch(self) -> tuple[list[tuple[_Request, int, int]], Hashable] | None:
        """The next batch: (request, first input, end) slices of requests with the oldest request's key, up to
        `max_batch` inputs, gathered for at most `max_wait` after the oldest arrived; None once stopped."""
        with self._condition:
            while not self._waiting:
                if self._stopping:
                    return None
                self._condition.wait()
            deadline = self._waiting[0].arrived + self.max_wait
            while not self._stopping and self._waiting_for(self._waiting[0].key) < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._condition.wait(left)
            if not self._waiting:  # stop() failed them meanwhile
                return None if self._stopping else ([], None)
            key, size, slices = self._waiting[0].key, 0, []
            for request in list(self._waiting):
                if request.key != key or size == self.max_batch:
                    continue
                start = len(request.results)
                end = min(len(request.inputs), start + self.max_batch - size)
                slices.append((request, start, end))
                request.in_batch = True
                size += end - start
            self._queued_inputs -= size
            return slices, key

    def _waiting_for(self, key: Hashable) -> int:
        return sum(len(request.inputs) - len(request.results) for request in self._waiting if request.key == key)

    def _decode(self, inputs: list[Any], key: Hashable) -> list[Any]:
        outputs = self.decode(inputs, key)
        if not isinstance(outputs, list) or len(outputs) != len(inputs):
            raise RuntimeError(f"the model's decode gave {len(outputs) if isinstance(outputs, list) else type(outputs).__name__} "
                               f"outputs for {len(inputs)} inputs")
        return outputs

    def _run(self, slices: list[tuple[_Request, int, int]], key: Hashable) -> None:
        """Decode a batch; if it fails, decode each request's share alone, so that only a failing request fails."""
        if not slices:
            return
        inputs = [item for request, start, end in slices for item in request.inputs[start:end]]
        try:
            outputs = self._decode(inputs, key)
            shares = []
            for request, start, end in slices:
                shares.append((request, end, outputs[: end - start], None))
                outputs = outputs[end - start :]
        except Exception as failure:  # noqa: BLE001 - the server goes on; the failing request gets the error
            shares = [(slices[0][0], slices[0][2], [], failure)] if len(slices) == 1 else [
                self._alone(request, start, end, key) for request, start, end in slices]
        try:
            if self.on_batch is not None:
                self.on_batch(len(inputs))
        except Exception:  # noqa: BLE001 - metrics must not stop decoding
            pass
        with self._condition:
            for request, end, results, error in shares:
                request.in_batch = False
                if request in self._waiting:
                    request.results.extend(results)
                    if error is not None or end == len(request.inputs):
                        self._finish(request, error, untaken=len(request.inputs) - end if error is not None else 0)

    def _alone(self, request: _Request, start: int, end: int, key: Hashable) -> tuple[_Request, int, list, Exception | None]:
        try:
            return request, end, self._decode(request.inputs[start:end], key), None
        except Exception as failure:  # noqa: BLE001
            return request, end, [], failure

    def _finish(self, request: _Request, error: Exception | None, untaken: int | None = None) -> None:
        """Answer `request` (holding the lock): remove it from the queue and settle its future in its event loop.
        `untaken`: its inputs still counted as waiting (None: all not yet decoded)."""
        self._waiting.remove(request)
        self._queued_inputs -= len(request.inputs) - len(request.results) if untaken is None else untaken
        try:
            request.loop.call_soon_threadsafe(_settle, request.future, request.results, error)
        except RuntimeError:  # its event loop has closed: nobody is waiting for the answer
            pass


def _settle(future: asyncio.Future, results: list[Any], error: Exception | None) -> None:
    """Answer a request (in its event loop), unless its client has gone and the handler was cancelled."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(results)
