"""Loading captra checkpoints safely (no pickled code runs) with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from captra.common.checkpoints.file import CheckpointError, module_hparams, read_checkpoint
from captra.common.decoding.ensemble import Ensemble
from captra.common.training.module import CHECKPOINT_FORMAT, TaskModule
from captra.common.training.selection import SelectionError
from captra.common.task import Task, UnknownTaskError, get_task


def checkpoint_task(path: str | Path, checkpoint: dict[str, Any]) -> Task:
    """The registered task a checkpoint was written by; refuses checkpoints of a newer format."""
    info = checkpoint["captra"]
    if info.get("format", 0) > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: written by a newer captra (checkpoint format {info.get('format')}, this one reads "
            f"up to {CHECKPOINT_FORMAT}); upgrade captra"
        )
    try:
        return get_task(info["task"])
    except UnknownTaskError as error:
        raise CheckpointError(f"{path}: {error}") from error


def load_module(path: str | Path, task: str | None = None) -> TaskModule:
    """A trained module (in eval mode, on the CPU) from a self-contained checkpoint.

    `task`, when given, is the task the caller needs; a checkpoint of another task is refused.
    """
    return module_from_checkpoint(path, read_checkpoint(path), task)


def module_from_checkpoint(path: str | Path, checkpoint: dict[str, Any], task: str | None = None) -> TaskModule:
    """`load_module` for a checkpoint already read with `read_checkpoint` (`path` names it in errors)."""
    info = checkpoint["captra"]
    if task is not None and info["task"] != task:
        raise CheckpointError(f"{path}: is a {info['task']} checkpoint, but this command needs a {task} checkpoint")
    cls = checkpoint_task(path, checkpoint).module_class
    try:
        hparams = module_hparams(checkpoint)
        module = cls(**cls.loading_hparams(hparams), text=info["text"])
        module.load_state_dict(checkpoint["state_dict"])
    except (TypeError, RuntimeError, KeyError, SelectionError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{path}: does not fit this version of captra's {info['task']} model ({first_line})") from error
    return module.eval()


def load_ensemble(paths: list[str | Path], task: str, first: dict[str, Any] | None = None) -> nn.Module:
    """The module of one checkpoint, or an `Ensemble` of several (one task, the same vocabularies). `first`: the
    first checkpoint when the caller has already read it (`read_checkpoint`), so that it is not read twice."""
    modules = [module_from_checkpoint(paths[0], read_checkpoint(paths[0]) if first is None else first, task)]
    modules += [load_module(path, task=task) for path in paths[1:]]
    return modules[0] if len(modules) == 1 else Ensemble(modules, [str(path) for path in paths]).eval()
