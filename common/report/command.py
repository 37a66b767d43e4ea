"""`captra report --ckpt CKPT [--ckpt CKPT2 ...] --split test [--beam 5] --out reports/NAME`.

Decodes the split with every checkpoint and writes metrics.json, hypotheses.txt (first checkpoint; the
others as hypotheses.<name>.txt), report.md (+ figures/) and a self-contained report.html.
`--split test` and `--split val` mean the run's configured test and validation splits; any other name
that split. Under torchrun (`torchrun --nproc_per_node N -m captra report ...`) every process decodes its share
of the split, the outputs are gathered by example, and the first process writes the report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from captra.common.checkpoints.loading import CheckpointError, checkpoint_task, load_ensemble, read_checkpoint
from captra.common.checkpoints.file import module_hparams
from captra.common.training.distributed import gather_by_id, join_process_group
from captra.common.cli.inference import add_device_arguments, decoding_config, place, resolve_device
from captra.common.decoding.int8 import uses_int8
from captra.common.report import analysis, measured, plots
from captra.common.report.metadata import configuration_block, distinct_names, provenance_block
from captra.common.report.render import Block, write_report
from captra.common.report.split import SplitData, load_split
from captra.common.task import Task

HELP = "decode a split with one or more checkpoints and write an evaluation report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", action="append", required=True,
                        help="a checkpoint; repeat to compare several; A.ckpt+B.ckpt is the ensemble of A and B as one system")
    parser.add_argument("--split", default="test",
                        help="split to decode: test or val (the run's configured ones) or any split name (default: test)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the report files")
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: each checkpoint's)")
    parser.add_argument("--batch-size", type=int, default=64, help="inputs decoded together")
    parser.add_argument("--data-dir", default=None, help="data folder (default: from the run's config.yaml)")
    parser.add_argument("--bootstrap-samples", type=int, default=1000, help="paired bootstrap resamples")
    add_device_arguments(parser)


def decode_shared(task: Task, module, data: SplitData, config, batch_size: int, device: torch.device) -> list[str]:
    """Every process decodes examples rank, rank + world, ...; the outputs are gathered by example row."""
    rank, world = join_process_group()
    rows = list(range(rank, len(data.inputs), world))
    shard = replace(data, inputs=[data.inputs[i] for i in rows], references=[data.references[i] for i in rows],
                    lengths=[data.lengths[i] for i in rows])
    return gather_by_id(list(zip(rows, task.report.decode(module, shard, config, batch_size, device))))


def decode(system: str, args: argparse.Namespace, device: torch.device, task_name: str | None,
           raw: dict[str, Any] | None = None) -> dict[str, Any]:
    """Decode the split with one system (every process its share): its hypotheses and metadata. A system is a
    checkpoint, or an ensemble of checkpoints joined by '+' (metadata and data settings from the first, whose
    contents `raw` holds where they were read already)."""
    paths = [Path(part) for part in system.split("+")]
    path = paths[0]
    raw = read_checkpoint(path) if raw is None else raw
    task = checkpoint_task(path, raw)
    module = place(load_ensemble(paths, task_name or task.name, first=raw), device, args.int8)
    data = load_split(task, path, args.split, args.data_dir)
    config = decoding_config(module.search_config, args.beam)
    print(f"captra report: decoding {len(data.inputs)} {data.name} examples with {system}", file=sys.stderr)
    return {
        "name": "+".join(p.stem for p in paths), "path": system, "task": task, "module": module, "data": data,
        "config": config,
        "hypotheses": decode_shared(task, module, data, config, args.batch_size, device),
        "steps": int(raw.get("global_step", 0)), "epoch": int(raw.get("epoch", 0)),
        "hparams": module_hparams(raw),
    }


def main_score(system: dict[str, Any]) -> analysis.MainScore:
    """The corpus main metric of outputs: the task's own scorer of it, else the module's full score."""
    task, module = system["task"], system["module"]
    return task.main_score or (lambda hypotheses, references: float(module.score(hypotheses, references)[task.main_metric]))


def score(system: dict[str, Any]) -> None:
    """Adds the system's metrics, sentence scores and main metric per length bucket (the writing process only)."""
    hypotheses, data, task = system["hypotheses"], system["data"], system["task"]
    system["metrics"] = system["module"].score(hypotheses, data.references)
    system["sentence_scores"] = task.sentence_score(hypotheses, data.references)
    buckets = analysis.length_buckets(data.lengths)
    system["buckets"] = analysis.bucket_scores(main_score(system), hypotheses, data.references, buckets)


def paired_test(baseline: dict[str, Any], other: dict[str, Any], samples: int) -> dict[str, Any]:
    """Is `other` better than `baseline`? The task's own test, else paired bootstrap on its main metric."""
    task, references = baseline["task"], baseline["data"].references
    if list(baseline["hypotheses"]) == list(other["hypotheses"]):
        return {"p_value": 1.0, "method": "identical outputs: nothing to test"}
    if task.paired_test is not None:
        return task.paired_test(baseline["hypotheses"], other["hypotheses"], references, samples)
    return analysis.paired_bootstrap(main_score(baseline), task.main_metric_label, baseline["hypotheses"],
                                     other["hypotheses"], references, samples,
                                     lower_is_better=task.main_metric in task.lower_is_better)


def score_rows(systems: list[dict[str, Any]]) -> list[list[str]]:
    task = systems[0]["task"]
    names = [name for name in task.score_names if any(name in s["metrics"] for s in systems)]
    rows = [["metric", *[s["name"] for s in systems]]]
    rows += [[task.score_labels.get(name, name),
              *[f"{s['metrics'][name]:.2f}" if name in s["metrics"] else "not computed" for s in systems]]
             for name in names]
    return rows


def attention_blocks(first: dict[str, Any], rows: list[int], device: torch.device) -> list[Block]:
    if first["module"].decoder.attention is None:
        return [Block("p", "This model has no attention (the baseline variant).")]
    figures = first["task"].report.attention_figures(first["module"], first["data"], rows, first["config"], device)
    return [Block("img", f"attention_{number}.png", image=image) for number, image in enumerate(figures, start=1)]


def build_blocks(systems: list[dict[str, Any]], significance: dict[str, dict], args: argparse.Namespace,
                 device: torch.device) -> list[Block]:
    first, task, data = systems[0], systems[0]["task"], systems[0]["data"]
    metric, label = task.main_metric, task.main_metric_label
    blocks = [Block("h1", f"captra report — {task.name}, split {data.name} ({len(data.inputs)} examples)"),
              Block("h2", "Scores"), Block("table", rows=score_rows(systems))]
    signatures = [[task.score_labels.get(name, name), str(value)] for name, value in first["metrics"].items()
                  if name.startswith("signature")]
    if signatures:
        blocks += [Block("h3", "Signatures"), Block("table", rows=[["metric", "signature"], *signatures])]
    if "notes" in first["metrics"]:
        blocks.append(Block("p", f"Not computed: {first['metrics']['notes']}"))
    if significance:
        rows = [["checkpoint", f"{label} vs {first['name']}", "p-value", "method"]]
        for name, result in significance.items():
            delta = next(s for s in systems if s["name"] == name)["metrics"][metric] - first["metrics"][metric]
            rows.append([name, f"{delta:+.2f}", f"{result['p_value']:.4f}", str(result["method"])])
        blocks += [Block("h2", "Significance (paired bootstrap)"), Block("table", rows=rows)]
    blocks += [Block("h2", "Evaluation protocol"), Block("p", task.protocol)]
    blocks.append(Block("h2", "Run metadata"))
    meta_rows = [["", *[s["name"] for s in systems]]]
    meta_rows += [["checkpoint", *[str(s["path"]) for s in systems]],
                  ["training steps / epoch", *[f"{s['steps']} / {s['epoch']}" for s in systems]],
                  ["decoding", *[f"{s['config'].strategy}, beam {s['config'].beam_size}, length penalty "
                                 f"{s['config'].length_penalty}" for s in systems]]]
    blocks += [Block("table", rows=meta_rows), provenance_block(device, any(uses_int8(s["module"]) for s in systems))]

    blocks.append(Block("h2", "Plots"))
    blocks.append(Block("img", "score_by_length.png",
                        image=plots.score_by_length({s["name"]: s["buckets"] for s in systems}, data.length_name, label)))
    reference_lengths = [len(refs[0].split()) for refs in data.references]
    for index, system in enumerate(systems):
        blocks.append(Block("img", f"lengths_{index + 1}.png", image=plots.length_scatter(
            [len(h.split()) for h in system["hypotheses"]], reference_lengths, system["name"])))
    blocks.append(configuration_block(first))

    blocks.append(Block("h2", f"Examples (by sentence score of {first['name']})"))
    picks = analysis.pick_examples(first["sentence_scores"])
    for kind, rows in picks.items():
        table = [["#", "input", *[s["name"] for s in systems], "references", "sentence score"]]
        for row in rows:
            references = " / ".join(data.references[row])
            table.append([str(row + 1), data.inputs[row], *[s["hypotheses"][row] for s in systems], references,
                          f"{first['sentence_scores'][row]:.1f}"])
        blocks += [Block("h3", kind), Block("table", rows=table)]
    blocks += [Block("h2", task.report.attention_title), *attention_blocks(first, picks["random"][:2], device)]
    return blocks


def write_outputs(systems: list[dict[str, Any]], significance: dict[str, dict], blocks: list[Block], out: Path,
                  args: argparse.Namespace) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for index, system in enumerate(systems):
        name = "hypotheses.txt" if index == 0 else f"hypotheses.{system['name']}.txt"
        (out / name).write_text("".join(h + "\n" for h in system["hypotheses"]), encoding="utf-8")
    task = systems[0]["task"]
    metrics = {
        "task": task.name, "split": systems[0]["data"].name, "examples": len(systems[0]["hypotheses"]),
        "checkpoints": [{"name": s["name"], "path": str(s["path"]), "training_steps": s["steps"],
                         "decoding": {"strategy": s["config"].strategy, "beam_size": s["config"].beam_size,
                                      "length_penalty": s["config"].length_penalty},
                         "scores": s["metrics"], "score_by_length": s["buckets"]} for s in systems],
        "significance": significance,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    write_report(blocks, out, f"captra report {out.name}")


def run(args: argparse.Namespace) -> int:
    first = Path(args.ckpt[0].split("+")[0])
    first_raw = read_checkpoint(first)  # read once: it says which report the task has, and is its first system
    task = checkpoint_task(first, first_raw)
    if task.report is None:
        return measured.run(args, first_raw)  # scored by the module's own evaluation
    if task.sentence_score is None:
        raise CheckpointError(f"the {task.name} task has report hooks but no sentence score to pick examples by")
    rank, world = join_process_group()
    device = resolve_device(args.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    systems = [decode(args.ckpt[0], args, device, None, first_raw)]
    systems += [decode(system, args, device, systems[0]["task"].name) for system in args.ckpt[1:]]
    distinct_names(systems)
    if any(s["data"].inputs != systems[0]["data"].inputs for s in systems[1:]):
        raise CheckpointError("the checkpoints read different data for this split; compare runs of the same data")
    if rank != 0:  # the other processes only decode their share
        return 0
    for system in systems:
        score(system)
    significance = {s["name"]: paired_test(systems[0], s, args.bootstrap_samples) for s in systems[1:]}
    blocks = build_blocks(systems, significance, args, device)
    write_outputs(systems, significance, blocks, args.out, args)
    print(f"captra report: wrote {args.out}/report.md, report.html, metrics.json, hypotheses.txt", file=sys.stderr)
    return 0
