"""int8 against fp32 decoding on the CPU: speed, scores and how many outputs differ, for any task's checkpoint.

Decodes a split (default: the run's test split) with the checkpoint's search (or --beam), each model after one batch
of warm-up, first in fp32, then with `--int8 force` (dynamic int8 quantisation of the linear and recurrent layers,
common/decoding/int8.py), through the same code `captra report` decodes with (captioning: images read and put through the CNN per batch, which stays fp32). Both
are scored with the task's metrics. Prints one JSON object.

    python benchmarks/int8_decoding.py --ckpt CKPT [--split test] [--beam 5] [--batch-size 64] [--data-dir DIR]
        [--by-layer] [--repeats 3] [--limit N]

`--by-layer` also decodes with each group of layers quantised alone (linear layers, recurrent layers such as the
encoder's BiLSTM, the decoder's recurrent cells): which gain and which lose on this CPU. The kernels' instruction
set can be lowered to see an older CPU's int8 paths on a newer one, e.g. AVX2 only:
`FBGEMM_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2`
(the JSON records these variables).
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import replace
from pathlib import Path

import torch

from _setup import Stopwatch, benchmark_parser, metadata
from captra.common.checkpoints.loading import checkpoint_task, module_from_checkpoint, read_checkpoint
from captra.common.cli.inference import decoding_config
from captra.common.decoding.int8 import LAYER_GROUPS, quantize_int8
from captra.common.report.split import SplitData, load_split


def head(data: SplitData, count: int) -> SplitData:
    """The split's first `count` examples."""
    return replace(data, inputs=data.inputs[:count], references=data.references[:count], lengths=data.lengths[:count])


ISA_VARIABLES = ("FBGEMM_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def main() -> None:
    parser = benchmark_parser(__doc__, checkpoint=True, batch_size=64)
    parser.add_argument("--split", default="test", help="test, val (the run's) or a split name")
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the checkpoint's)")
    parser.add_argument("--data-dir", default=None, help="data folder (default: from the run's config.yaml)")
    parser.add_argument("--by-layer", action="store_true", help="also time each group of layers quantised alone")
    parser.add_argument("--limit", type=int, default=None, help="decode the split's first N examples only")
    parser.add_argument("--repeats", type=int, default=1,
                        help="decode with every variant this many times, in turn; medians are reported")
    args = parser.parse_args()
    device = torch.device("cpu")
    path = Path(args.ckpt)
    raw = read_checkpoint(path)
    task = checkpoint_task(path, raw)
    module = module_from_checkpoint(path, raw)
    data = load_split(task, path, args.split, args.data_dir)
    if args.limit is not None:
        data = head(data, args.limit)
    config = decoding_config(module.search_config, args.beam)
    result: dict[str, object] = {"machine": metadata(), "checkpoint": str(path), "task": task.name, "split": data.name,
                                 "examples": len(data.inputs), "beam": config.beam_size, "batch_size": args.batch_size,
                                 "torch_threads": torch.get_num_threads(),
                                 "instruction_set_variables": {name: os.environ[name] for name in ISA_VARIABLES if name in os.environ}}
    warm_up = head(data, args.batch_size)

    def timed_decode(model: torch.nn.Module) -> tuple[float, list[str]]:
        """(seconds, outputs) of decoding the split, after one batch of warm-up (first calls allocate and tune)."""
        task.report.decode(model, warm_up, config, args.batch_size, device)
        with Stopwatch() as watch:
            decoded = task.report.decode(model, data, config, args.batch_size, device)
        return watch.seconds, decoded

    with Stopwatch() as quantising:
        quantised = quantize_int8(module)
    variants = {"fp32": module, "int8": quantised}
    if args.by_layer:  # each group quantised alone
        variants.update({f"int8_{group}_only": quantize_int8(module, types) for group, types in LAYER_GROUPS.items()})
    times: dict[str, list[float]] = {name: [] for name in variants}
    outputs: dict[str, list[str]] = {}
    for _ in range(args.repeats):  # the variants in turn, so that a slower spell of the machine hits all of them
        for name, model in variants.items():
            seconds, decoded = timed_decode(model)
            times[name].append(seconds)
            outputs.setdefault(name, decoded)
    median = {name: statistics.median(values) for name, values in times.items()}
    for name in ("fp32", "int8"):
        scores = module.score(outputs[name], data.references)
        words = sum(len(text.split()) for text in outputs[name])
        result[name] = {"seconds": median[name], "examples_per_s": len(data.inputs) / median[name],
                        "output_words_per_s": words / median[name], "output_words": words,
                        **{key: value for key, value in scores.items()}}
    result["seconds_of_each_repeat"] = times
    result["quantising_seconds"] = quantising.seconds
    result["int8_speedup"] = median["fp32"] / median["int8"]
    result["int8_minus_fp32"] = {key: result["int8"][key] - value for key, value in result["fp32"].items()
                                 if isinstance(value, float) and key not in ("seconds", "examples_per_s", "output_words_per_s")}
    result["outputs_differing"] = sum(a != b for a, b in zip(outputs["fp32"], outputs["int8"]))
    if args.by_layer:
        result["int8_speedup_by_layer_group"] = {group: median["fp32"] / median[f"int8_{group}_only"]
                                                 for group in LAYER_GROUPS}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
