"""`captra average CKPT [CKPT ...] --out OUT.ckpt`: one checkpoint whose weights are the mean of several.

Checkpoint averaging (Junczys-Dowmunt et al. 2016; Vaswani et al. 2017): the last or the best N checkpoints of one
run (`--checkpoint.save_top_k N` keeps the N best by the validation score) are averaged parameter by parameter.
The result is a normal checkpoint of the same task, vocabularies and hyper-parameters: `captra translate`,
`caption`, `test` and `report` take it as they take any other. It holds weights only (no optimizer state), so a
run cannot be resumed from it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from captra.common.checkpoints.loading import checkpoint_task
from captra.common.checkpoints.file import CheckpointError, read_checkpoint, require_same_task_and_vocabularies
from captra.common.checkpoints.atomic import AtomicCheckpointIO

HELP = "average the weights of several checkpoints of one run into one checkpoint"
KEPT = ("epoch", "global_step", "pytorch-lightning_version", "hyper_parameters", "captra")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+", type=Path, metavar="CKPT", help="checkpoints of the same run")
    parser.add_argument("--out", required=True, type=Path, help="the averaged checkpoint to write")


def average_checkpoints(paths: list[Path]) -> dict[str, Any]:
    """The first checkpoint's metadata with every floating-point tensor of the state dict replaced by the mean
    over all checkpoints (accumulated in float64); other tensors (counters) are the first's."""
    first = read_checkpoint(paths[0])
    task = checkpoint_task(paths[0], first).name
    sums = {name: value.double() for name, value in first["state_dict"].items() if value.is_floating_point()}
    for path in paths[1:]:
        checkpoint = read_checkpoint(path)
        require_same_task_and_vocabularies(path, checkpoint["captra"]["task"], checkpoint["captra"]["text"], str(paths[0]),
                                           task, first["captra"]["text"], "average checkpoints of one run")
        state = checkpoint["state_dict"]
        if state.keys() != first["state_dict"].keys() or any(state[n].shape != first["state_dict"][n].shape for n in state):
            raise CheckpointError(f"{path}: its parameters differ in names or shapes from {paths[0]}'s")
        for name in sums:
            sums[name] += state[name].double()
    state_dict = {name: (sums[name] / len(paths)).to(value.dtype) if name in sums else value
                  for name, value in first["state_dict"].items()}
    averaged = {key: first[key] for key in KEPT if key in first}
    averaged["state_dict"] = state_dict
    averaged["captra"] = {**first["captra"], "averaged_from": [str(path) for path in paths]}
    averaged["captra"].pop("rng", None)  # a weights-only checkpoint resumes nothing
    return averaged


def run(args: argparse.Namespace) -> int:
    averaged = average_checkpoints(args.checkpoints)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    AtomicCheckpointIO().save_checkpoint(averaged, args.out)
    print(f"captra average: wrote {args.out}, the mean of {len(args.checkpoints)} checkpoints", file=sys.stderr)
    return 0
