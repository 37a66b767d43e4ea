"""What a report evaluates: one split's inputs and references, read through the task's data module with the
settings of the run that wrote the checkpoint."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
import yaml

from captra.common.data.datamodule import SplitDataModule
from captra.common.decoding.settings import SearchConfig
from captra.common.text.files import DataError

if TYPE_CHECKING:
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
    data_class = recorded_class(section.get("class_path"), task.data_class)
    if data_dir is not None:
        if "data_dir" not in inspect.signature(data_class).parameters:
            raise DataError(f"--data-dir: the data module of {checkpoint} ({data_class.__name__}) reads no data folder")
        settings["data_dir"] = data_dir
    try:
        return data_class(**settings)
    except TypeError as error:
        raise DataError(f"{checkpoint}: its run's data settings do not fit {data_class.__name__} ({error})") from error


def recorded_class(class_path: str | None, default: type[SplitDataModule]) -> type[SplitDataModule]:
    """The data module class a run's config.yaml names, or `default` (the task's) where it names none or none that
    can be imported here as a SplitDataModule. A path written before captra had one namespace
    (`language_model.data.X`) is read as its captra one (`captra.language_model.data.X`)."""
    if not class_path:
        return default
    candidates = [class_path] if class_path.startswith("captra.") else [f"captra.{class_path}", class_path]
    for candidate in candidates:
        module_name, _, class_name = candidate.rpartition(".")
        try:
            found = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError, ValueError):
            continue
        if isinstance(found, type) and issubclass(found, SplitDataModule):
            return found
    return default


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
