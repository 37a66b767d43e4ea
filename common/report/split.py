"""What a report evaluates: one split's inputs and references, read through the task's data module with the
settings of the run that wrote the checkpoint."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
import yaml

from captra.common.decoding.settings import SearchConfig
from captra.common.text.files import DataError

if TYPE_CHECKING:
    from captra.common.data.datamodule import SplitDataModule
    from captra.common.training.seq2seq import Seq2SeqModule
    from captra.common.task import Task


@dataclass
class SplitData:
    """One split: per example an input (a sentence or an image path), its references and its length."""

    name: str
    inputs: list[str]  # source sentences, or image paths as strings
    references: list[list[str]]
    lengths: list[int]  # what the length buckets sort by, e.g. source words or mean reference words
    length_name: str  # what `lengths` counts, for plot labels


@dataclass(frozen=True)
class ReportHooks:
    """How `captra report` handles a task's data.

    read_split: (data module, split name) -> the split's inputs, references and lengths, in split order.
    decode: (module, split, search, batch size, device) -> the best output text per input, in split order.
    attention_figures: (module, split, rows, search, device) -> PNG bytes of a few examples' attention.
    attention_title: the heading of those figures.
    """

    read_split: Callable[[SplitDataModule, str], SplitData]
    decode: Callable[[Seq2SeqModule, SplitData, SearchConfig, int, torch.device], list[str]]
    attention_figures: Callable[[Seq2SeqModule, SplitData, list[int], SearchConfig, torch.device], list[bytes]]
    attention_title: str = "Attention"


def run_data_section(checkpoint: Path) -> dict[str, Any]:
    """The `data` section (class_path, init_args) of the run that wrote `checkpoint` (its `version_N/config.yaml`),
    or {}."""
    config_path = checkpoint.resolve().parent.parent / "config.yaml"
    if not config_path.is_file():
        return {}
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    return dict(config.get("data") or {})


def run_data_module(task: Task, checkpoint: Path, data_dir: str | None) -> SplitDataModule:
    """The data module of the run that wrote `checkpoint`, as its config.yaml built it (its class, else the task's
    data class), with `data_dir` (where given) as its data folder."""
    section = run_data_section(checkpoint)
    if not section and data_dir is None:
        raise DataError(f"{checkpoint}: no config.yaml beside its run folder to rebuild its data module; pass --data-dir")
    settings = dict(section.get("init_args") or {})
    if data_dir is not None:
        settings["data_dir"] = data_dir
    data_class: type[SplitDataModule] = task.data_class
    if class_path := section.get("class_path"):
        module_name, _, class_name = class_path.rpartition(".")
        data_class = getattr(importlib.import_module(module_name), class_name)
    return data_class(**settings)


def split_name(data: SplitDataModule, split: str) -> str:
    """"test" and "val" name the run's configured test and validation splits; any other name that split."""
    return {"test": data.test_split, "val": data.val_split}.get(split, split)


def load_split(task: Task, checkpoint: Path, split: str, data_dir: str | None) -> SplitData:
    """The split `split` (see `split_name`), read by the task's data module with the run's data settings
    (`data_dir` overrides the folder)."""
    if task.report is None:
        raise DataError(f"{checkpoint}: the {task.name} task defines no report hooks (its split is scored by its "
                        "module's evaluation)")
    data = run_data_module(task, checkpoint, data_dir)
    return task.report.read_split(data, split_name(data, split))
