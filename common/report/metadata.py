"""What every report says about the systems it compares: names that tell them apart, where and when the report
ran, and the first system's configuration."""

from __future__ import annotations

import datetime
from typing import Any

import torch
import yaml

from captra.common.provenance import describe_machine, git_commit
from captra.common.report.render import Block


def distinct_names(systems: list[dict[str, Any]]) -> None:
    """Number the systems' names ("1:best", "2:best") where two share one (two runs' checkpoints of one name)."""
    if len({s["name"] for s in systems}) < len(systems):
        for index, system in enumerate(systems):
            system["name"] = f"{index + 1}:{system['name']}"


def provenance_block(device: torch.device, int8: bool) -> Block:
    """The captra commit, the date, the machine and the device the report was made with."""
    return Block("p", f"captra commit {git_commit()}; {datetime.datetime.now().isoformat(timespec='seconds')}; "
                      f"machine {describe_machine()}; device {device}{', int8 weights (--int8)' if int8 else ''}.")


def configuration_block(system: dict[str, Any]) -> Block:
    """A system's hyper-parameters, folded."""
    return Block("details", f"Configuration of {system['name']} (its hyper-parameters)",
                 folded=yaml.safe_dump(system["hparams"], sort_keys=False))
