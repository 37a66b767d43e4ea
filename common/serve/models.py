"""The models a server serves: checkpoints (or ensembles) of tasks with an endpoint, placed on a device, with the
model card `GET /v1/models` shows."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Hashable

import torch
from torch import nn

import captra
from captra.common.checkpoints.file import CheckpointError, read_checkpoint
from captra.common.checkpoints.loading import checkpoint_task, load_ensemble
from captra.common.cli.inference import place
from captra.common.decoding.int8 import uses_int8
from captra.common.provenance import cpu, git_commit
from captra.common.serve.endpoint import Endpoint
from captra.common.task import Task


@dataclass
class ServedModel:
    """One served model: its name (`?model=NAME`), task, endpoint, module on its device, and model card."""

    name: str
    task: Task
    endpoint: Endpoint
    module: nn.Module
    device: torch.device
    card: dict[str, Any]

    def __post_init__(self) -> None:
        self._settings: dict[Hashable, tuple[Any, bool]] = {}  # batch key -> the settings it stands for

    def batch_key(self, settings: tuple[Any, bool]) -> Hashable:
        """What requests must share to be decoded in one batch: their settings (`Endpoint.settings`'s result, e.g.
        the search settings and attention)."""
        first, keep_attention = settings
        key = (tuple(dataclasses.astuple(first)) if dataclasses.is_dataclass(first) else first, keep_attention)
        self._settings.setdefault(key, settings)
        return key

    def decode(self, inputs: list[Any], key: Hashable) -> list[Any]:
        """The batcher's decode: `inputs` of requests that share the settings `key`."""
        first, keep_attention = self._settings[key]
        return self.endpoint.decode(self.module, inputs, first, keep_attention, self.device)


def load_served(name: str, paths: list[str], device: torch.device, int8: str | None) -> ServedModel:
    """The checkpoint `paths[0]` (with `paths[1:]`: their ensemble) ready to serve as `name`."""
    first = read_checkpoint(paths[0])
    task = checkpoint_task(paths[0], first)
    if task.endpoint is None:
        raise CheckpointError(f"{paths[0]}: the {task.name} task declares no endpoint, so it cannot be served")
    module = place(load_ensemble(paths, task=task.name, first=first), device, int8).eval()
    return ServedModel(name, task, task.endpoint, module, device,
                       model_card(name, task, paths, first, module, device, uses_int8(module)))


def model_card(name: str, task: Task, paths: list[str], first: dict[str, Any], module: nn.Module,
               device: torch.device, int8: bool) -> dict[str, Any]:
    """What a client may want to know of a served model: task, route, checkpoints, vocabularies, search settings
    and provenance (captra, torch, the device, the CPU and its int8 engine)."""
    endpoint = task.endpoint
    assert endpoint is not None
    return {
        "name": name, "task": task.name, "route": f"/v1/{endpoint.route}", "input": endpoint.input_kind,
        "verb": endpoint.verb,
        # int8 scales each layer's input over the whole batch, so an input's output can depend on its batch-mates
        "batch_invariant": not int8,
        "checkpoints": [Path(path).name for path in paths], "ensemble": len(paths) > 1,
        "training_steps": int(first.get("global_step", 0)), "epoch": int(first.get("epoch", 0)),
        **endpoint.card(module),
        "vocabularies": {side: {"size": len(text.vocab), "tokenizer": type(text.tokenizer).__name__}
                         for side, text in module.texts.items()},
        "provenance": {"captra": captra.__version__, "commit": git_commit(), "torch": torch.__version__,
                       "device": str(device), "int8": int8, **cpu()},
    }
