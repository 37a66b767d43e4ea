"""A callback for benchmarks/corpus_scale.py: on rank 0 it writes to the file named by $CAPTRA_FIRST_STEP_FILE (JSON)
the wall-clock time at which the first optimizer step ended, and this process's resident memory when training
starts (data set up, model built, no step taken: what the corpus costs, before any batch's activations) and its
peak up to the end of the first step. Given to `captra fit` as `--trainer.callbacks+ first_step_clock.FirstStepClock`
with benchmarks/ on PYTHONPATH."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback


def memory_mb() -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (peak resident) of this process, MB."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values


class FirstStepClock(Callback):
    def __init__(self) -> None:
        self.record: dict[str, float] = {}

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.record["rss_at_train_start_mb"] = round(memory_mb()["VmRSS"], 1)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        target = os.environ.get("CAPTRA_FIRST_STEP_FILE")
        if target and trainer.global_step == 1 and trainer.global_rank == 0:
            self.record.update(first_step_time=time.time(), peak_rss_first_step_mb=round(memory_mb()["VmHWM"], 1))
            Path(target).write_text(json.dumps(self.record))
