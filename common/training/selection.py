"""Which validation metric selects checkpoints, and whether higher or lower is better: one source for checkpoint
selection, early stopping, the checkpoint file name and the plateau schedule.

The task declares its main metric and the scores where lower is better (`Task.main_metric`,
`Task.lower_is_better`); the loss and the perplexity are always lower-better. A run chooses another metric with
`model.monitor` (e.g. `val/loss`), and every one of the four follows it; `checkpoint.monitor` or
`early_stopping.monitor` override one alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from captra.common.task import get_task

AUTO = "auto"  # a callback's monitor / mode / filename chosen here
ALWAYS_LOWER_IS_BETTER = ("loss", "ppl")  # logged by every task
Mode = Literal["min", "max"]


class SelectionError(ValueError):
    """A selection metric that the task's validation does not log."""


@dataclass(frozen=True)
class Selection:
    """A logged validation metric ("val/bleu") and its direction ("max": higher is better)."""

    metric: str
    mode: Mode

    @property
    def name(self) -> str:
        """The metric without its split ("bleu")."""
        return self.metric.split("/", 1)[-1]

    @property
    def checkpoint_filename(self) -> str:
        """The best checkpoint's file name pattern, e.g. best-epoch03-step1816-bleu21.48."""
        return f"best-epoch{{epoch:02d}}-step{{step}}-{self.name}{{{self.metric}:.2f}}"


def metric_mode(task: str, metric: str) -> Mode:
    """"min" for the loss, the perplexity and the task's lower-is-better scores (e.g. TER), else "max"."""
    name = metric.split("/", 1)[-1]
    return "min" if name in ALWAYS_LOWER_IS_BETTER or name in get_task(task).lower_is_better else "max"


def selection_for(task: str, monitor: str | None = None) -> Selection:
    """The selection of a run of `task`: `monitor` ("val/loss") or the task's main metric, with its direction."""
    record = get_task(task)
    metric = monitor or f"val/{record.main_metric}"
    known = [f"val/{name}" for name in dict.fromkeys([record.main_metric, *record.score_names, *ALWAYS_LOWER_IS_BETTER])]
    if metric not in known:
        raise SelectionError(f"model.monitor {metric!r}: not a validation metric of the {task} task; one of "
                         f"{', '.join(known)}")
    return Selection(metric, metric_mode(task, metric))
