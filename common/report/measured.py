"""The default report, for a task without report hooks (`Task.report` None): every checkpoint scored on the split
by its own module's evaluation (`evaluation_step` / `evaluation_scores`, as `captra test` scores it: the loss,
the perplexity and the task's scores), through the data module of the run that wrote it; then the task's own
sections (`Task.report_sections`: samples, figures), with two or more checkpoints the task's comparison of them
(`Task.comparison_sections`: e.g. a significance test), the protocol and the run metadata.

For tasks whose scores are measured on the split itself (a loss per token, say) rather than computed from decoded
text against references. One process: under torchrun it is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch

from captra.common.checkpoints.file import module_hparams, require_same_task_and_vocabularies
from captra.common.checkpoints.loading import CheckpointError, checkpoint_task, module_from_checkpoint, read_checkpoint
from captra.common.cli.inference import place, resolve_device
from captra.common.decoding.int8 import uses_int8
from captra.common.data.datamodule import SplitDataModule
from captra.common.report.metadata import configuration_block, distinct_names, provenance_block
from captra.common.report.render import Block, write_report
from captra.common.report.split import run_data_module, split_name
from captra.common.task import Task
from captra.common.training.module import TaskModule


def evaluate_split(module: TaskModule, data: SplitDataModule, split: str, device: torch.device) -> dict[str, float]:
    """The module's evaluation of one split of `data` on `device` (one process): {"loss": ..., "ppl": ..., ...}."""
    trainer = L.Trainer(accelerator="gpu" if device.type == "cuda" else "cpu",
                        devices=[device.index or 0] if device.type == "cuda" else 1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    if split == data.val_split:
        results = trainer.validate(module, datamodule=data, verbose=False)
    else:
        data.test_split = split
        results = trainer.test(module, datamodule=data, verbose=False)
    return {key.split("/", 1)[-1]: float(value) for key, value in results[0].items()}


def measure(path: Path, args: argparse.Namespace, device: torch.device, task_name: str | None,
            raw: dict[str, Any] | None = None) -> dict[str, Any]:
    """One checkpoint's scores on the split, its module and data module, and its metadata (`raw`: its contents,
    where they were read already)."""
    if "+" in str(path) and not path.is_file():
        raise CheckpointError(f"{path}: this task's report scores one checkpoint at a time (no '+' ensembles)")
    raw = read_checkpoint(path) if raw is None else raw
    task = checkpoint_task(path, raw)
    if task_name is not None and task.name != task_name:
        raise CheckpointError(f"{path}: a {task.name} checkpoint; the first one is {task_name}")
    module = place(module_from_checkpoint(path, raw), device, args.int8).eval()
    data = run_data_module(task, path, args.data_dir)
    require_same_task_and_vocabularies(path, module.task, module.text_states, "the data module rebuilt from its run's "
                                       "config.yaml", module.task, getattr(data, "text", module.text_states),
                                       "the report scores the split with the checkpoint's vocabulary")
    split = split_name(data, args.split)
    print(f"captra report: scoring split {split} with {path}", file=sys.stderr)
    scores = evaluate_split(module, data, split, device)
    module.to(device)  # Lightning's teardown moved it back to the CPU; the report's own sections run on the device
    return {"name": path.stem, "path": str(path), "task": task, "module": module, "data": data, "split": split,
            "scores": scores, "steps": int(raw.get("global_step", 0)), "epoch": int(raw.get("epoch", 0)),
            "hparams": module_hparams(raw)}


def score_rows(task: Task, systems: list[dict[str, Any]]) -> list[list[str]]:
    names = [name for name in dict.fromkeys([*task.score_names, "loss", "ppl"]) if any(name in s["scores"] for s in systems)]
    return [["metric", *[s["name"] for s in systems]],
            *[[task.score_labels.get(name, name),
               *[f"{s['scores'][name]:.4f}" if name in s["scores"] else "not computed" for s in systems]]
              for name in names]]


def build_blocks(systems: list[dict[str, Any]], device: torch.device, int8: bool) -> list[Block]:
    first, task = systems[0], systems[0]["task"]
    blocks = [Block("h1", f"captra report — {task.name}, split {first['split']}"),
              Block("h2", "Scores"), Block("table", rows=score_rows(task, systems)),
              Block("h2", "Evaluation protocol"), Block("p", task.protocol)]
    if task.report_sections is not None:
        blocks += task.report_sections(first["module"], first["data"], first["split"], device)
    if task.comparison_sections is not None and len(systems) > 1:
        blocks += task.comparison_sections([(s["name"], s["module"]) for s in systems], first["data"], first["split"],
                                           device)
    blocks += [Block("h2", "Run metadata"),
               Block("table", rows=[["", *[s["name"] for s in systems]],
                                    ["checkpoint", *[s["path"] for s in systems]],
                                    ["training steps / epoch", *[f"{s['steps']} / {s['epoch']}" for s in systems]]]),
               provenance_block(device, int8), configuration_block(first)]
    return blocks


def run(args: argparse.Namespace, first_raw: dict[str, Any] | None = None) -> int:
    """`captra report` for a task without report hooks: one process (`first_raw`: the first checkpoint's contents,
    where they were read already)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise CheckpointError("this task's report scores the split in one process: run captra report without torchrun")
    device = resolve_device(args.device)
    systems = [measure(Path(args.ckpt[0]), args, device, None, first_raw)]
    systems += [measure(Path(path), args, device, systems[0]["task"].name) for path in args.ckpt[1:]]
    distinct_names(systems)
    blocks = build_blocks(systems, device, any(uses_int8(s["module"]) for s in systems))
    args.out.mkdir(parents=True, exist_ok=True)
    metrics = {"task": systems[0]["task"].name, "split": systems[0]["split"],
               "checkpoints": [{"name": s["name"], "path": s["path"], "training_steps": s["steps"], "scores": s["scores"]}
                               for s in systems]}
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    write_report(blocks, args.out, f"captra report {args.out.name}")
    print(f"captra report: wrote {args.out}/report.md, report.html, metrics.json", file=sys.stderr)
    return 0
