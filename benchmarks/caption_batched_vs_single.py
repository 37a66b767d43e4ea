"""Caption decoding on Flickr8k test images: batched beam search against one image at a time.

One image at a time is how the popular Show-Attend-Tell tutorials caption. Both ways use the same
model and `captioning.caption.caption_batches`; only the batch size differs. Two comparisons:
- "end_to_end": preprocessed images -> CNN -> beam search (what `captra caption` does);
- "decoder": cached region features -> beam search (validation / test with the feature cache).
Prints one JSON object with captions/s of each, the ratios, whether the captions are identical, and
for the decoder (`limits`) its matmul FLOPs against this machine's fp32 matmul speed on the decoder
cell's shape: the speedup batching could reach if everything but the matmuls were free. Each
comparison first captions a few images both ways untimed (lazy CUDA / cuBLAS set-up is not decoding).

    python benchmarks/caption_batched_vs_single.py --ckpt CKPT [--data-dir ../shared/data/flickr8k]
        [--images 500] [--beam 3] [--batch-size 100] [--device cpu] [--decoder-only] [--bf16]
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from pathlib import Path

import torch

from _setup import benchmark_parser, matmul_ceiling, metadata, timed
from captra.captioning.caption import caption_batches
from captra.captioning.corpus import read_flickr8k
from captra.captioning.images import read_image_tensor
from captra.common.checkpoints.loading import load_module


def main() -> None:
    parser = benchmark_parser(__doc__, checkpoint=True, data_dir="../shared/data/flickr8k", batch_size=100, bf16=True)
    parser.add_argument("--images", type=int, default=500, help="the first N test images")
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument("--decoder-only", action="store_true", help="skip the (CNN-bound) end-to-end comparison")
    args = parser.parse_args()

    device = torch.device(args.device)
    module = load_module(args.ckpt, task="captioning").to(device)
    config = replace(module.search_config, strategy="beam", beam_size=args.beam, n_best=1)
    data_dir = Path(args.data_dir)
    images = read_flickr8k(data_dir, "test", data_dir / "images")[: args.images]
    tensors = [read_image_tensor(image.path, module.encoder.spec) for image in images]  # (3, H, W) each
    with torch.no_grad():
        features = [f.half().cpu() for f in torch.cat([module.encoder.regions(torch.stack(tensors[i : i + 50]).to(device))
                                                        for i in range(0, len(tensors), 50)])]  # (S, C) each

    result: dict[str, object] = {"benchmark": "caption_batched_vs_single", "images": len(images), "beam": args.beam,
                                 "batch_size": args.batch_size, "bf16": args.bf16, "device": str(device)}
    decoder_seconds: dict[str, float] = {}
    comparisons = [("end_to_end", tensors, "images"), ("decoder", features, "features")][args.decoder_only:]
    for name, inputs, kind in comparisons:
        if args.bf16:  # autocast refuses float16 inputs on the CPU; the model casts to its precision itself
            inputs = [tensor.float() for tensor in inputs]
        seconds, captions = decoder_seconds if kind == "features" else {}, {}
        for mode, batch_size in (("batched", args.batch_size), ("single", 1)):
            with torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext():
                caption_batches(module, inputs[: max(batch_size, 8)], config, batch_size, device, kind=kind)  # warm-up
                seconds[mode], hypotheses = timed(
                    lambda: caption_batches(module, inputs, config, batch_size, device, kind=kind), device)
            captions[mode] = [h.tokens for h in hypotheses]
        result[name] = {
            "batched_captions_per_s": round(len(images) / seconds["batched"], 2),
            "single_captions_per_s": round(len(images) / seconds["single"], 2),
            "speedup": round(seconds["single"] / seconds["batched"], 2),
            "identical_captions": captions["batched"] == captions["single"],
            "differing_captions": sum(a != b for a, b in zip(captions["batched"], captions["single"])),
        }
    cell = module.decoder.cells[0]
    if device.type == "cpu" and not args.bf16:  # the FLOP counter and fp32 matmul reference: CPU
        result["decoder"]["limits"] = matmul_ceiling(
            lambda: caption_batches(module, features, config, args.batch_size, device, kind="features"),
            decoder_seconds["batched"], decoder_seconds["single"], (args.batch_size * args.beam, cell.input_size, cell.weight_ih.size(0)))
    result.update({**metadata(), "checkpoint": args.ckpt})
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
