"""The default report's `Task.comparison_sections`: called once with every scored system, by name, when a report
scores two or more checkpoints, and not for one."""

from __future__ import annotations

import lightning as L
import torch

from captra.common.report.measured import build_blocks
from captra.common.report.render import Block
from captra.common.task import Task
from captra.common.training.module import TaskModule


def systems(task: Task, count: int) -> list[dict]:
    return [{"name": f"system{n}", "path": f"system{n}.ckpt", "task": task, "module": f"module{n}", "data": "data",
             "split": "test", "scores": {"accuracy": 50.0 + n}, "steps": 10, "epoch": 1, "hparams": {"n": n}}
            for n in range(count)]


def test_the_comparison_sections_come_with_two_checkpoints_only():
    calls = []

    def compare(named, data, split, device):
        calls.append((named, data, split, device))
        return [Block("h2", "Compared"), Block("p", " vs ".join(name for name, _ in named))]

    task = Task("compared", TaskModule, L.LightningDataModule, "protocol", "accuracy", "accuracy", ("accuracy",),
                comparison_sections=compare)
    device = torch.device("cpu")
    blocks = build_blocks(systems(task, 3), device, int8=False)
    assert calls == [([("system0", "module0"), ("system1", "module1"), ("system2", "module2")], "data", "test", device)]
    texts = [block.text for block in blocks]
    assert texts.index("Compared") < texts.index("Run metadata") and "system0 vs system1 vs system2" in texts
    calls.clear()
    assert "Compared" not in [block.text for block in build_blocks(systems(task, 1), device, int8=False)]
    assert calls == []
