"""Beam search on a test set: batched (one (sentences x beam) tensor) against one sentence at a time.

Both go through the same `translate_ids` path with the same model; only the batch size differs.
Prints one JSON object: sentences/s of each, their ratio, whether the hypotheses are identical, and
(`limits`) the matmul FLOPs of the batched run against this machine's fp32 matmul speed on the decoder
cell's shape: the speedup batching could reach if everything but the matmuls were free.

    python benchmarks/beam_batched_vs_single.py --ckpt CKPT [--data-dir ../shared/data/multi30k]
        [--src en] [--split test_2016_flickr] [--beam 5] [--batch-size 128] [--limit N] [--compile] [--bf16]

Both ways first decode a few sentences untimed (lazy CUDA / cuBLAS set-up is not decoding). With
--compile the decoder step goes through torch.compile (dynamic shapes); an untimed batched pass over
the data compiles first, so the timings are steady state.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from pathlib import Path

import torch

from _setup import benchmark_parser, matmul_ceiling, metadata, timed
from captra.common.checkpoints.loading import load_module
from captra.common.text.files import read_lines
from captra.translation.data import split_path
from captra.translation.translate import translate_ids


def main() -> None:
    parser = benchmark_parser(__doc__, checkpoint=True, data_dir="../shared/data/multi30k", batch_size=128,
                              bf16=True, compile=True)
    parser.add_argument("--src", default="en")
    parser.add_argument("--split", default="test_2016_flickr")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="only the first N sentences")
    args = parser.parse_args()

    device = torch.device(args.device)
    module = load_module(args.ckpt, task="translation").to(device)
    config = replace(module.search_config, strategy="beam", beam_size=args.beam, n_best=1)
    lines = read_lines(split_path(Path(args.data_dir), args.split, args.src))[: args.limit]
    encoded = [module.texts["src"].encode(line) for line in lines]

    precision = torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()
    timings, outputs = {}, {}
    with precision:
        if args.compile:
            module.decoder.step = torch.compile(module.decoder.step, dynamic=True)
            translate_ids(module, encoded, config, args.batch_size, device)  # compiles (untimed)
        translate_ids(module, encoded[: args.batch_size], config, args.batch_size, device)  # warm-up (untimed)
        translate_ids(module, encoded[:8], config, 1, device)
        for name, batch_size in (("batched", args.batch_size), ("single", 1)):
            timings[name], outputs[name] = timed(lambda: translate_ids(module, encoded, config, batch_size, device), device)
    cell = module.decoder.cells[0]
    limits = {}
    if device.type == "cpu" and not (args.compile or args.bf16):  # the FLOP counter and fp32 matmul reference: CPU
        limits = matmul_ceiling(lambda: translate_ids(module, encoded, config, args.batch_size, device),
                                timings["batched"], timings["single"],
                                (args.batch_size * args.beam, cell.input_size, cell.weight_ih.size(0)))
    print(json.dumps({
        "benchmark": "beam_batched_vs_single",
        "sentences": len(lines),
        "beam": args.beam,
        "batch_size": args.batch_size,
        "batched_sentences_per_s": round(len(lines) / timings["batched"], 2),
        "single_sentences_per_s": round(len(lines) / timings["single"], 2),
        "speedup": round(timings["single"] / timings["batched"], 2),
        "identical_hypotheses": outputs["batched"] == outputs["single"],
        "differing_sentences": sum(a != b for a, b in zip(outputs["batched"], outputs["single"])),
        "limits": limits,
        "compile": args.compile,
        "bf16": args.bf16,
        "device": str(device),
        **metadata(),
        "checkpoint": args.ckpt,
    }, indent=1))


if __name__ == "__main__":
    main()
