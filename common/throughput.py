"""Training speed in the logs: target tokens/s and examples/s of the global batch.

Measured over windows of `every_n_steps` training steps, with the time spent in validation taken
out, and one CUDA synchronisation per window and validation, not per step. Under DDP
the rates are the whole job's (each rank trains an equal share of the global batch). For captioning an
example is one (image, caption) pair.
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from common.vocab import PAD_ID


class ThroughputLogger(Callback):
    """Logs `train/tokens_per_s` and `train/examples_per_s` to every logger every N steps."""

    def __init__(self, every_n_steps: int | None = None) -> None:
        """every_n_steps: window length in optimizer steps (default: `trainer.log_every_n_steps`)."""
        self.every_n_steps = every_n_steps
        self._drop_window()

    def _drop_window(self) -> None:
        self._started: float | None = None
        self._paused: float | None = None
        self._tokens: torch.Tensor | int = 0  # stays on the device until the window closes
        self._examples = 0
        self._steps = 0

    @staticmethod
    def _synchronize(trainer: L.Trainer) -> None:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize(trainer.strategy.root_device)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._started is None:
            self._synchronize(trainer)
            self._started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        targets = batch["tgt"][:, 1:]  # (B, T)
        self._tokens = self._tokens + (targets != PAD_ID).sum()
        self._examples += targets.size(0)
        self._steps += 1
        if self._steps < (self.every_n_steps or trainer.log_every_n_steps) or self._started is None:
            return
        self._synchronize(trainer)
        seconds = time.perf_counter() - self._started
        world = trainer.world_size
        metrics = {"train/tokens_per_s": float(self._tokens) * world / seconds,
                   "train/examples_per_s": self._examples * world / seconds}
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=trainer.global_step)
        self._drop_window()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._started is not None:
            self._synchronize(trainer)
            self._paused = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._started is not None and self._paused is not None:
            self._started += time.perf_counter() - self._paused  # the window does not count validation
            self._paused = None
