"""int8 against fp32 decoding on the CPU: speed, scores and how many outputs differ, for any task's checkpoint.

Decodes a split (default: the run's test split) with the checkpoint's search (or --beam), first in fp32, then with
`--int8` (dynamic int8 quantisation of the linear and recurrent layers, common/decoding/int8.py), through the same code
`captra report` decodes with (captioning: images read and put through the CNN per batch, which stays fp32). Both
are scored with the task's metrics. Prints one JSON object.

    python benchmarks/int8_decoding.py --ckpt CKPT [--split test] [--beam 5] [--batch-size 64] [--data-dir DIR]
        [--by-layer] [--limit N]

`--by-layer` also decodes with each group of layers quantised alone (linear layers, recurrent layers such as the
encoder's BiLSTM, the decoder's recurrent cells): which gain and which lose on this CPU. The kernels' instruction
set can be lowered to see an older CPU's int8 paths on a newer one, e.g. AVX2 only:
`FBGEMM_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2`
(the JSON records these variables).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import torch

from _setup import Stopwatch, benchmark_parser, metadata
from captra.common.checkpoints.loading import checkpoint_task, module_from_checkpoint, read_checkpoint
from captra.common.cli.inference import decoding_config
from captra.common.decoding.int8 import LAYER_GROUPS, quantize_int8
from captra.common.report.split import load_split


ISA_VARIABLES = ("FBGEMM_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def main() -> None:
    parser = benchmark_parser(__doc__, checkpoint=True, batch_size=64)
    parser.add_argument("--split", default="test", help="test, val (the run's) or a split name")
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the checkpoint's)")
    parser.add_argument("--data-dir", default=None, help="data folder (default: from the run's config.yaml)")
    parser.add_argument("--by-layer", action="store_true", help="also time each group of layers quantised alone")
    parser.add_argument("--limit", type=int, default=None, help="decode the split's first N examples only")
    args = parser.parse_args()
    device = torch.device("cpu")
    path = Path(args.ckpt)
    raw = read_checkpoint(path)
    task = checkpoint_task(path, raw)
    module = module_from_checkpoint(path, raw)
    data = load_split(task, path, args.split, args.data_dir)
    if args.limit is not None:
        data = replace(data, inputs=data.inputs[: args.limit], references=data.references[: args.limit])
    config = decoding_config(module.search_config, args.beam)
    result: dict[str, object] = {"machine": metadata(), "checkpoint": str(path), "task": task.name, "split": data.name,
                                 "examples": len(data.inputs), "beam": config.beam_size, "batch_size": args.batch_size,
                                 "torch_threads": torch.get_num_threads(),
                                 "instruction_set_variables": {name: os.environ[name] for name in ISA_VARIABLES if name in os.environ}}
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
    if args.by_layer:  # each group quantised alone: its speed-up over fp32
        result["int8_speedup_by_layer_group"] = {}
        for group, types in LAYER_GROUPS.items():
            partly = quantize_int8(module, types)
            with Stopwatch() as watch:
                task.report.decode(partly, data, config, args.batch_size, device)
            result["int8_speedup_by_layer_group"][group] = result["fp32"]["seconds"] / watch.seconds
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
