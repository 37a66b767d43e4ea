"""Training speed in the logs: target tokens/s (tasks whose batches have targets) and examples/s of the global batch.

Measured over the `log_every_n_steps` optimizer steps before each logged row, with the time spent in
validation taken out, and one CUDA synchronisation per logged row and validation, not per step. Under
DDP the rates are the whole job's (each rank trains an equal share of the global batch). For
captioning an example is one (image, caption) pair.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from captra.common.text.vocab import PAD_ID


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work, so that a host clock read after it times the work itself."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class ThroughputLogger(Callback):
    """Logs `train/tokens_per_s` and `train/examples_per_s` in the rows Lightning writes every N steps."""

    def __init__(self) -> None:
        self._new_window()
        self._paused: float | None = None
        self._step_before_batch = 0

    def _new_window(self) -> None:
        self._started: float | None = None
        self._tokens: torch.Tensor | int = 0  # stays on the device until the window closes
        self._examples = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self._step_before_batch = trainer.global_step
        if self._started is None:
            synchronize(trainer.strategy.root_device)
            self._started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if "tgt" in batch:  # a task that predicts one label per example (no target tokens) logs examples/s alone
            targets = batch["tgt"][:, 1:]  # (B, T)
            self._tokens = self._tokens + (targets != PAD_ID).sum()
            self._examples += targets.size(0)
        else:
            self._examples += len(batch["ids"])
        # Lightning writes a row when an optimizer step brings the step count to a multiple of log_every_n_steps
        # (a batch that only accumulates gradients, or a skipped step, leaves the count where it was).
        stepped = trainer.global_step > self._step_before_batch
        if self._started is None or not stepped or trainer.global_step % trainer.log_every_n_steps:
            return
        synchronize(trainer.strategy.root_device)
        seconds = time.perf_counter() - self._started
        world = trainer.world_size
        if "tgt" in batch:
            pl_module.log("train/tokens_per_s", float(self._tokens) * world / seconds, on_step=True, on_epoch=False)
        pl_module.log("train/examples_per_s", self._examples * world / seconds, on_step=True, on_epoch=False)
        self._new_window()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._started is not None:
            synchronize(trainer.strategy.root_device)
            self._paused = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._started is not None and self._paused is not None:
            self._started += time.perf_counter() - self._paused  # the window does not count validation
        self._paused = None
