"""Where batched beam search spends its time: torch.profiler over one decoding pass, top operators.

Runs the same batched decode as beam_batched_vs_single.py (translation) or the "decoder" path of
caption_batched_vs_single.py (captioning, cached region features) under the profiler and prints one
JSON object: the operators by self CPU time (ms and share), and the share of the matmul operators.

    python benchmarks/decode_profile.py --ckpt CKPT --task translation [--limit 1000] [--beam 5] [--batch-size 128]
    python benchmarks/decode_profile.py --ckpt CKPT --task captioning [--limit 300] [--beam 3] [--batch-size 100]
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from _setup import benchmark_parser, metadata
from captra.captioning.caption import caption_batches
from captra.captioning.corpus import read_flickr8k
from captra.captioning.images import read_image_tensor
from captra.common.checkpoints.loading import load_module
from captra.common.text.files import read_lines
from captra.translation.data import split_path
from captra.translation.translate import translate_ids

MATMUL_OPS = {"aten::addmm", "aten::mm", "aten::bmm", "aten::mkldnn_rnn_layer"}


def main() -> None:
    parser = benchmark_parser(__doc__, checkpoint=True)
    parser.add_argument("--task", choices=["translation", "captioning"], required=True)
    parser.add_argument("--data-dir", default=None, help="default: ../shared/data/multi30k or ../shared/data/flickr8k")
    parser.add_argument("--limit", type=int, default=None, help="sentences / test images (default 1000 / 300)")
    parser.add_argument("--beam", type=int, default=None, help="default 5 (translation) / 3 (captioning)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 128 / 100")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    device = torch.device(args.device)
    module = load_module(args.ckpt, task=args.task).to(device)
    if args.task == "translation":
        beam, batch_size, limit = args.beam or 5, args.batch_size or 128, args.limit or 1000
        lines = read_lines(split_path(Path(args.data_dir or "../shared/data/multi30k"), "test_2016_flickr", "en"))[:limit]
        inputs = [module.texts["src"].encode(line) for line in lines]
        config = replace(module.search_config, strategy="beam", beam_size=beam, n_best=1)

        def decode() -> object:
            return translate_ids(module, inputs, config, batch_size, device)
    else:
        beam, batch_size, limit = args.beam or 3, args.batch_size or 100, args.limit or 300
        data_dir = Path(args.data_dir or "../shared/data/flickr8k")
        images = read_flickr8k(data_dir, "test", data_dir / "images")[:limit]
        with torch.no_grad():
            features = [module.encoder.regions(read_image_tensor(image.path, module.encoder.spec).unsqueeze(0))[0].half()
                        for image in images]  # (S, C) each, as the feature cache stores them
        config = replace(module.search_config, strategy="beam", beam_size=beam, n_best=1)

        def decode() -> object:
            return caption_batches(module, features, config, batch_size, device, kind="features")

    decode()  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as profiler:  # operators ranked by their host (CPU) time
        decode()
    events = sorted(profiler.key_averages(), key=lambda event: -event.self_cpu_time_total)
    total = sum(event.self_cpu_time_total for event in events)
    matmul = sum(event.self_cpu_time_total for event in events if event.key in MATMUL_OPS)
    print(json.dumps({
        "benchmark": "decode_profile", "task": args.task, "inputs": limit, "beam": beam, "batch_size": batch_size,
        "profiled_ms": round(total / 1e3, 1),
        "matmul_share": round(matmul / total, 3),
        "top_operators": [{"op": event.key, "calls": event.count, "self_ms": round(event.self_cpu_time_total / 1e3, 1),
                           "share": round(event.self_cpu_time_total / total, 3)} for event in events[: args.top]],
        **metadata(),
        "checkpoint": args.ckpt,
    }, indent=1))


if __name__ == "__main__":
    main()
