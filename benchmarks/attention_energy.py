"""Additive attention for one beam-search step: Bahdanau's tanh formula against captra's computation.

captra computes v^T tanh(W_k s + W_q q + b) as 2 v^T sigmoid(2 (...)) (the same softmax weights) and,
at inference on the CPU, a few memory rows at a time in one reused cache-sized buffer
(`common.attention.CPU_ENERGY_CHUNK` elements). This times the scoring of one search step (keys
projected beforehand, as in search) three ways on the same tensors:
- "tanh_one_buffer": softmax(v^T tanh(keys + W_q q)) over the whole (B, G, S, A) energy at once;
- "sigmoid_one_buffer": captra's formula with one buffer for the whole energy;
- "captra": `AdditiveAttention.forward` as the decoder calls it in search (sigmoid, reused buffer).
Prints one JSON object: ms per step for each, ratios, and the largest difference of the weights.

    python benchmarks/attention_energy.py [--rows 100] [--group 3] [--positions 81] [--memory-size 1280]
        [--query-size 512] [--attention-size 512] [--device cpu]

Defaults are the Flickr8k captioning decoder at beam 3 with 100 images per batch; the Multi30k small
model at beam 5 is `--rows 128 --group 5 --positions 20 --memory-size 512 --query-size 256 --attention-size 256`.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable

import torch
from torch import Tensor

import captra.common.nn.attention as attention_module
from _setup import benchmark_parser, metadata, timed
from captra.common.nn.attention import AdditiveAttention


def median_ms(function: Callable[[], Tensor], device: torch.device, repeats: int) -> float:
    for _ in range(3):
        function()
    return statistics.median(timed(function, device)[0] for _ in range(repeats)) * 1e3


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--rows", type=int, default=100, help="memory rows (sentences / images)")
    parser.add_argument("--group", type=int, default=3, help="queries per memory row (beam size)")
    parser.add_argument("--positions", type=int, default=81, help="memory positions S")
    parser.add_argument("--memory-size", type=int, default=1280)
    parser.add_argument("--query-size", type=int, default=512)
    parser.add_argument("--attention-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    attention = AdditiveAttention(args.query_size, args.memory_size, args.attention_size).to(device)
    states = torch.randn(args.rows, args.positions, args.memory_size, device=device)  # (B, S, D)
    mask = torch.ones(args.rows, args.positions, dtype=torch.bool, device=device)  # (B, S)
    query = torch.randn(args.rows * args.group, args.query_size, device=device)  # (B*G, H)

    with torch.no_grad():
        plain_keys = attention.key_layer(states)  # (B, S, A): W_k s
        captra_keys = attention.project_keys(states)  # (B, S, A): 2 W_k s

        def tanh_one_buffer() -> Tensor:
            projected = attention.query_layer(query).view(args.rows, args.group, 1, -1)  # (B, G, 1, A)
            scores = attention.energy_layer(torch.tanh(plain_keys.unsqueeze(1) + projected)).squeeze(3)  # (B, G, S)
            return torch.softmax(scores, dim=-1).flatten(0, 1)  # (B*G, S)

        def captra() -> Tensor:
            return attention(query, captra_keys, states, mask)[1]  # (B*G, S)

        def sigmoid_one_buffer() -> Tensor:
            chunk = attention_module.CPU_ENERGY_CHUNK
            attention_module.CPU_ENERGY_CHUNK = 1 << 62
            try:
                return captra()
            finally:
                attention_module.CPU_ENERGY_CHUNK = chunk

        reference = tanh_one_buffer()
        ways = {"tanh_one_buffer": tanh_one_buffer, "sigmoid_one_buffer": sigmoid_one_buffer, "captra": captra}
        ms = {name: median_ms(way, device, args.repeats) for name, way in ways.items()}
        differences = {name: float((way() - reference).abs().max()) for name, way in ways.items() if name != "tanh_one_buffer"}

    print(json.dumps({
        "benchmark": "attention_energy",
        "shape": {"rows": args.rows, "group": args.group, "positions": args.positions,
                  "memory_size": args.memory_size, "query_size": args.query_size, "attention_size": args.attention_size},
        "energy_elements": args.rows * args.group * args.positions * args.attention_size,
        "cpu_energy_chunk": attention_module.CPU_ENERGY_CHUNK,
        "ms_per_step": {name: round(value, 3) for name, value in ms.items()},
        "speedup_sigmoid": round(ms["tanh_one_buffer"] / ms["sigmoid_one_buffer"], 2),
        "speedup_captra": round(ms["tanh_one_buffer"] / ms["captra"], 2),
        "max_weight_difference": differences,
        "device": str(device),
        **metadata(),
    }, indent=1))


if __name__ == "__main__":
    main()
