"""A callback for benchmarks/corpus_scale.py: writes the wall-clock time at which the first optimizer step ended to
the file named by $CAPTRA_FIRST_STEP_FILE (rank 0 only), so that a run's start-up (process start to first step)
can be timed from outside. Given to `captra fit` as `--trainer.callbacks+ first_step_clock.FirstStepClock` with
benchmarks/ on PYTHONPATH."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback


class FirstStepClock(Callback):
    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        target = os.environ.get("CAPTRA_FIRST_STEP_FILE")
        if target and trainer.global_step == 1 and trainer.global_rank == 0:
            Path(target).write_text(repr(time.time()))
