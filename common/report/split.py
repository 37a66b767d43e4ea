"""What a report evaluates: one split's inputs and references, read with the settings of the run."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from common.checkpoint import CheckpointError
from common.textfile import DataError

TASK_EVALUATION = {"translation": "translation.evaluation", "captioning": "captioning.evaluation"}


@dataclass
class SplitData:
    """One split: per example an input (a sentence or an image path), its references and its length."""

    name: str
    inputs: list[str]  # source sentences, or image paths as strings
    references: list[list[str]]
    lengths: list[int]  # source tokens (translation) or mean reference words (captioning)
    length_name: str  # what `lengths` counts, for plot labels
    extra: dict[str, Any] = field(default_factory=dict)


def run_data_config(checkpoint: Path) -> dict[str, Any]:
    """`data.init_args` of the run that wrote `checkpoint` (its `version_N/config.yaml`), or {}."""
    config_path = checkpoint.resolve().parent.parent / "config.yaml"
    if not config_path.is_file():
        return {}
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    return dict((config.get("data") or {}).get("init_args") or {})


def evaluation_module(task: str):
    if task not in TASK_EVALUATION:
        raise CheckpointError(f"no report for task {task!r}")
    return importlib.import_module(TASK_EVALUATION[task])


def load_split(task: str, checkpoint: Path, split: str, data_dir: str | None) -> SplitData:
    """The split named `split`, from the run's data settings (`data_dir` overrides the folder)."""
    settings = run_data_config(checkpoint)
    if data_dir is not None:
        settings["data_dir"] = data_dir
    if "data_dir" not in settings:
        raise DataError(f"{checkpoint}: no config.yaml beside its run folder to find the data; pass --data-dir")
    return evaluation_module(task).read_split(settings, split)
