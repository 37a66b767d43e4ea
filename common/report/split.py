"""What a report evaluates: one split's inputs and references, read through the task's data module with the
settings of the run that wrote the checkpoint."""

from __future__ import annotations

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


def run_data_config(checkpoint: Path) -> dict[str, Any]:
    """`data.init_args` of the run that wrote `checkpoint` (its `version_N/config.yaml`), or {}."""
    config_path = checkpoint.resolve().parent.parent / "config.yaml"
    if not config_path.is_file():
        return {}
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    return dict((config.get("data") or {}).get("init_args") or {})


def split_name(data: SplitDataModule, split: str) -> str:
    """"test" and "val" name the run's configured test and validation splits; any other name that split."""
    return {"test": data.test_split, "val": data.val_split}.get(split, split)


def load_split(task: Task, checkpoint: Path, split: str, data_dir: str | None) -> SplitData:
    """The split `split` (see `split_name`), read by the task's data module with the run's data settings
    (`data_dir` overrides the folder)."""
    if task.report is None:
        raise DataError(f"{checkpoint}: the {task.name} task defines no report (its Task record has no report hooks)")
    settings = run_data_config(checkpoint)
    if data_dir is not None:
        settings["data_dir"] = data_dir
    if "data_dir" not in settings:
        raise DataError(f"{checkpoint}: no config.yaml beside its run folder to find the data; pass --data-dir")
    data = task.data_class(**settings)
    return task.report.read_split(data, split_name(data, split))
