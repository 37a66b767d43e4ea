"""A CSV logger whose metrics.csv survives a resumed run.

Lightning's CSV logger deletes `metrics.csv` when it opens an existing run folder. On resume we keep
the rows logged before the checkpoint's step and drop those the interrupted run wrote after it (the
resumed run logs those steps again), so the file reads like one uninterrupted run.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter


class _ContinuingWriter(ExperimentWriter):
    def __init__(self, log_dir: str, resume_step: int) -> None:
        self.resume_step = resume_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            keys = list(reader.fieldnames or [])
            kept = [row for row in reader if row.get("step") and int(row["step"]) < self.resume_step]
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=keys)
            writer.writeheader()
            writer.writerows(kept)
        self.metrics_keys = keys


class ContinuingCSVLogger(CSVLogger):
    """CSVLogger that, given `resume_step`, continues an existing metrics.csv from that step."""

    def __init__(self, *args: Any, resume_step: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resume_step = resume_step

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None and self.resume_step is not None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(self.log_dir, self.resume_step)
        return super().experiment
