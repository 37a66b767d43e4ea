"""int8 against fp32 decoding on the CPU: speed, scores and how many outputs differ, for any task's checkpoint.

Decodes a split (default: the run's test split) with the checkpoint's search (or --beam), first in fp32, then with
`--int8` (dynamic int8 quantisation of the linear and recurrent layers, common/decoding/int8.py), through the same code
`captra report` decodes with (captioning: images read and put through the CNN per batch, which stays fp32). Both
are scored with the task's metrics. Prints one JSON object.

    python benchmarks/int8_decoding.py --ckpt CKPT [--split test] [--beam 5] [--batch-size 64] [--data-dir DIR]
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from _setup import Stopwatch, benchmark_parser, metadata
from captra.common.checkpoints.loading import checkpoint_task, module_from_checkpoint, read_checkpoint
from captra.common.cli.inference import decoding_config
from captra.common.decoding.int8 import quantize_int8
from captra.common.report.split import load_split


def main() -> None:
    parser = benchmark_parser(__doc__, checkpoint=True, batch_size=64)
    parser.add_argument("--split", default="test", help="test, val (the run's) or a split name")
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the checkpoint's)")
    parser.add_argument("--data-dir", default=None, help="data folder (default: from the run's config.yaml)")
    args = parser.parse_args()
    device = torch.device("cpu")
    path = Path(args.ckpt)
    raw = read_checkpoint(path)
    task = checkpoint_task(path, raw)
    module = module_from_checkpoint(path, raw)
    data = load_split(task, path, args.split, args.data_dir)
    config = decoding_config(module.search_config, args.beam)
    result: dict[str, object] = {"machine": metadata(), "checkpoint": str(path), "task": task.name, "split": data.name,
                                 "examples": len(data.inputs), "beam": config.beam_size, "batch_size": args.batch_size,
                                 "torch_threads": torch.get_num_threads()}
    outputs = {}
    with Stopwatch() as quantising:
        quantised = quantize_int8(module)
    for name, model in (("fp32", module), ("int8", quantised)):
        with Stopwatch() as watch:
            outputs[name] = task.report.decode(model, data, config, args.batch_size, device)
        scores = module.score(outputs[name], data.references)
        words = sum(len(text.split()) for text in outputs[name])
        result[name] = {"seconds": watch.seconds, "examples_per_s": len(data.inputs) / watch.seconds,
                        "output_words_per_s": words / watch.seconds, "output_words": words,
                        **{key: value for key, value in scores.items()}}
    result["quantising_seconds"] = quantising.seconds
    result["int8_speedup"] = result["int8"]["examples_per_s"] / result["fp32"]["examples_per_s"]
    result["int8_minus_fp32"] = {key: result["int8"][key] - value for key, value in result["fp32"].items()
                                 if isinstance(value, float) and key not in ("seconds", "examples_per_s", "output_words_per_s")}
    result["outputs_differing"] = sum(a != b for a, b in zip(outputs["fp32"], outputs["int8"]))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
