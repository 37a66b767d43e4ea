"""Reading a captra checkpoint file safely (no pickled code runs), with one-line errors naming the file."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch


class CheckpointError(ValueError):
    """A file that cannot be used as a captra checkpoint; the message names it and says why."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dictionary, loaded with `weights_only=True` (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first_line = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{path}: refused to load: it holds more than tensors and plain data ({first_line})") from error
    except Exception as error:  # torch raises RuntimeError / EOFError / zip errors for non-checkpoints
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(checkpoint, dict) or "captra" not in checkpoint or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path}: not a captra checkpoint (no vocabularies or task recorded in it)")
    return checkpoint


def require_same_task_and_vocabularies(path: str | Path, task: str, text: Any, reference: str, reference_task: str,
                                       reference_text: Any, purpose: str) -> None:
    """Refuse, in one line naming `path`, a checkpoint whose task or vocabularies differ from `reference`'s
    (a checkpoint or "this run"); `purpose` says what needs them equal (e.g. "an ensemble needs ...")."""
    if task != reference_task:
        raise CheckpointError(f"{path}: is a {task} checkpoint, {reference} a {reference_task} one: {purpose}")
    if text != reference_text:
        raise CheckpointError(f"{path}: its vocabularies differ from {reference}'s: {purpose}")
