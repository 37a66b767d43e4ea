"""Tasks and their registry: everything the core needs to know about a task, declared by the task itself.

A task is one package with one `Task` record (e.g. `captra/translation/task.py: TASK = Task(...)`), registered
with one line in the `captra.tasks` entry-point group of pyproject.toml:

    [project.entry-points."captra.tasks"]
    translation = "captra.translation.task:TASK"

The core (checkpoint loading, the CLI, the report) finds tasks here by the name a checkpoint records and never
imports or branches on a task by name. `register` adds a record by hand (tests, notebooks). A task whose package
cannot be imported (a missing optional dependency) is set aside with the reason, so the other tasks still work;
using it names the task and the import error.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

if TYPE_CHECKING:
    from captra.common.data.datamodule import SplitDataModule
    from captra.common.training.module import TaskModule
    from captra.common.report.split import ReportHooks
    from captra.common.serve.endpoint import Endpoint

ENTRY_POINT_GROUP = "captra.tasks"

SentenceScorer = Callable[[Sequence[str], Sequence[Sequence[str]]], list[float]]
CorpusScorer = Callable[[Sequence[str], Sequence[Sequence[str]]], float]
# (baseline outputs, other outputs, references, resamples) -> {"p_value": ..., "method": ..., ...}
PairedTest = Callable[[Sequence[str], Sequence[str], Sequence[Sequence[str]], int], dict[str, Any]]


@dataclass(frozen=True)
class InferenceCommand:
    """A `captra NAME ...` command that serves a trained checkpoint (e.g. `translate`, `caption`)."""

    name: str
    help: str  # one line, shown by `captra --help`
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]  # returns the exit status


@dataclass(frozen=True)
class Task:
    """One task: its classes, its command, its evaluation and how the report shows it.

    Attributes:
        name: recorded in every checkpoint ("translation", "captioning", ...).
        module_class: the LightningModule (a TaskModule subclass; a Seq2SeqModule one for a task that generates).
        data_class: the LightningDataModule (a SplitDataModule subclass); the report reads splits through it.
        command: the inference command that serves a checkpoint of this task; None: none (`captra test` and
            `captra predict` still decode its splits through the data module).
        endpoint: how `captra serve` answers requests with a checkpoint of this task (`POST /v1/{route}`: request
            -> model inputs, hypotheses -> JSON; common/serve/endpoint.py); None: not servable.
        report: how `captra report` reads and decodes a split and draws attention; None: the default report, which
            scores each checkpoint on the split with its module's own evaluation (as `captra test` does) through
            the run's data module (common/report/measured.py).
        report_sections: (module, data module, split name, device) -> report blocks the default report adds after
            its scores (samples, figures, tables) for the first checkpoint; None: none.
        comparison_sections: ([(system name, module), ...], data module, split name, device) -> report blocks the
            default report adds when it scores two or more checkpoints (e.g. a significance test of each against
            the first, on the first's data module); None: none.
        protocol: the evaluation protocol, printed in every report.
        main_metric: key of the score that selects checkpoints (in `module_class.evaluation_scores`' result:
            Seq2SeqModule's `score`), unless a run sets model.monitor (common/training/selection.py).
        lower_is_better: the scores (keys of `score`'s result) of which lower is better, e.g. TER; for the others,
            higher is (the loss and the perplexity are always lower-better).
        main_metric_label: its name in tables and plots.
        score_names: the scores the report's table shows, in order.
        sentence_score: per-example score (0-100, higher is better, whatever the main metric's direction) used to
            pick the report's best and worst examples and, by default, as self-critical training's reward; None
            for a task without report hooks or self-critical training.
        paired_test: significance test of two systems' outputs; None: paired bootstrap on the main metric.
        main_score: the corpus main metric alone, where that is much cheaper than the module's full `score`
            (the report computes it per length bucket and per bootstrap sample); None: taken from `score`.
        score_labels: what readers see for score keys and signature keys in reports ({"bleu_lc": "BLEU,
            lowercased", "signature_lc": "BLEU, lowercased"}); a key without one is shown as it is.
    """

    name: str
    module_class: type[TaskModule]
    data_class: type[SplitDataModule]
    protocol: str
    main_metric: str
    main_metric_label: str
    score_names: tuple[str, ...]
    sentence_score: SentenceScorer | None = None
    command: InferenceCommand | None = None
    report: ReportHooks | None = None
    paired_test: PairedTest | None = None
    main_score: CorpusScorer | None = None
    score_labels: Mapping[str, str] = field(default_factory=dict)
    lower_is_better: frozenset[str] = frozenset()
    report_sections: Callable[[TaskModule, SplitDataModule, str, Any], list[Any]] | None = None
    comparison_sections: Callable[[list[tuple[str, TaskModule]], SplitDataModule, str, Any], list[Any]] | None = None
    endpoint: Endpoint | None = None


_registered: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add a task record by hand (the installed ones come from the entry points)."""
    _registered[task.name] = task
    return task


@cache
def _installed() -> tuple[dict[str, Task], dict[str, str]]:
    """(task name -> record, task name -> why it cannot be imported) over the entry points."""
    found, unavailable = {}, {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            task = entry.load()
        except ImportError as error:
            unavailable[entry.name] = f"{entry.value} cannot be imported: {type(error).__name__}: {error}"
            continue
        if not isinstance(task, Task) or task.name != entry.name:
            raise TypeError(f"entry point {entry.name} = {entry.value} in {ENTRY_POINT_GROUP!r} is not a Task named {entry.name!r}")
        found[task.name] = task
    return found, unavailable


def tasks() -> dict[str, Task]:
    """Every usable task by name: the installed ones and those registered by hand."""
    return {**_installed()[0], **_registered}


def unavailable_tasks() -> dict[str, str]:
    """Installed tasks that cannot be imported here, by name, with the reason (e.g. a missing dependency)."""
    return {name: reason for name, reason in _installed()[1].items() if name not in _registered}


class UnknownTaskError(KeyError):
    """A task name that no installed or registered task has."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_task(name: str) -> Task:
    known = tasks()
    if name in known:
        return known[name]
    if name in (unavailable := unavailable_tasks()):
        raise UnknownTaskError(f"task {name!r} is installed but unusable here: {unavailable[name]}")
    raise UnknownTaskError(f"unknown task {name!r}; known tasks: {', '.join(sorted(known)) or 'none'}")
