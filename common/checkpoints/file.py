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


def module_hparams(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The module's constructor arguments a checkpoint stored (without captra's private entries such as the class
    path, whose keys start with "_")."""
    return {key: value for key, value in checkpoint.get("hyper_parameters", {}).items() if not key.startswith("_")}


def require_same_task_and_vocabularies(path: str | Path, task: str, text: Any, reference: str, reference_task: str,
                                       reference_text: Any, purpose: str) -> None:
    """Refuse, in one line naming `path`, a checkpoint whose task or vocabularies differ from `reference`'s
    (a checkpoint or "this run"); `purpose` says what needs them equal (e.g. "an ensemble needs ...")."""
    if task != reference_task:
        raise CheckpointError(f"{path}: is a {task} checkpoint, {reference} a {reference_task} one: {purpose}")
    if text != reference_text:
        raise CheckpointError(
            f"{path}: its vocabularies differ from {reference}'s ({text_difference(text, reference_text)}): {purpose}")


def text_difference(text: Any, reference: Any) -> str:
    """Where two text states ({side: {"vocab": [...], "tokenizer": ..., ...}}) first differ, for an error message:
    for a vocabulary its sizes and first differing entry (a SentencePiece model trained by another version of
    sentencepiece, other data or other settings shows up there)."""
    if not isinstance(text, dict) or not isinstance(reference, dict):
        return "other text settings"
    for side in sorted(set(text) | set(reference)):
        mine, theirs = text.get(side), reference.get(side)
        if mine == theirs:
            continue
        if not isinstance(mine, dict) or not isinstance(theirs, dict):
            return f"{side}: only one has it"
        for field in sorted(set(mine) | set(theirs)):
            a, b = mine.get(field), theirs.get(field)
            if a == b:
                continue
            if field == "vocab" and isinstance(a, list) and isinstance(b, list):
                index = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                first = f"{a[index]!r} vs {b[index]!r}" if index < min(len(a), len(b)) else "one ends there"
                return f"{side} vocabulary: {len(a)} vs {len(b)} entries, first difference at entry {index}: {first}"
            return f"{side} {field}: {a!r} vs {b!r}" if field == "language" else f"{side} {field} differs"
    return "other text settings"
