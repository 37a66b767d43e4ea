"""Teacher-forced training throughput of the translation model: captra's implementation against the
straightforward per-step version, and both as a fraction of this machine's fp32 matmul speed.

- "captra": length-bucketed batches, packed BiLSTM encoder, attention keys projected once per batch,
  the output layer applied once to all steps after the recurrence (`TranslationModule.training_step`).
- "straightforward": the same parameters and loss, the way most tutorials write it: random batches,
  the encoder run over padding, keys re-projected and the output layer applied inside the step loop.
Both take forward + backward + Adam steps on the same Multi30k training sentences. FLOPs are counted
with torch.utils.flop_counter over the timed batches; the matmul reference is fp32 `torch.mm` of the
model's main shapes (output layer, decoder cell, key projection), in bf16 with --bf16. Prints one JSON object.

    python benchmarks/training_throughput.py [--configs configs/translation/base.yaml [OVERLAY ...]] [--batches 20]
        [--batch-size N] [--device cuda] [--bf16] [--compile]

--bf16 runs forward and loss under torch.autocast(bfloat16), as `--trainer.precision bf16-mixed` does;
--compile puts the decoder's recurrent step through torch.compile (dynamic shapes; an untimed pass
over the batches compiles first).
"""

from __future__ import annotations

import contextlib
import itertools
import json

import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from _setup import Stopwatch, benchmark_parser, build, matmul_flops_per_s, metadata
from captra.common.nn.memory import Memory, padding_mask
from captra.common.nn.precision import fused_rnn_precision
from captra.common.text.vocab import PAD_ID
from captra.common.data.batching import already_collated


def straightforward_loss(module, batch) -> torch.Tensor:
    """The per-step formulation: no packing, keys and output layer computed at every step."""
    encoder, decoder = module.encoder, module.decoder
    embedded = encoder.embedding(batch["src"])  # (B, S, E)
    with fused_rnn_precision(embedded):
        states, _ = encoder.rnn(embedded)  # (B, S, D), padding included
    lengths = batch["src_lengths"]
    summary = states[torch.arange(states.size(0), device=states.device), lengths - 1]  # (B, D)
    memory = Memory(states=states, mask=padding_mask(lengths, states.size(1)), summary=summary)
    state = decoder.init_state(memory)
    inputs, targets = batch["tgt"][:, :-1], batch["tgt"][:, 1:]
    total = states.new_zeros((), dtype=torch.float32)
    for t in range(inputs.size(1)):
        step_memory = memory.with_keys(decoder.attention.project_keys(memory.states))  # every step
        logits, state, _ = decoder.step(inputs[:, t], state, step_memory)  # output layer every step
        total = total + F.cross_entropy(logits, targets[:, t], ignore_index=PAD_ID, reduction="sum")
    return total / (targets != PAD_ID).sum()


def captra_loss(module, batch) -> torch.Tensor:
    return module.training_step(batch, 0)


def run(module, batches, loss_fn, precision: contextlib.AbstractContextManager, warm_up: bool) -> tuple[float, int]:
    """Seconds for the training steps, and the FLOPs they perform (counted in a separate pass).

    With `warm_up` one untimed pass over the batches runs first (compilation), on a throwaway optimizer.
    """
    module.train()
    if warm_up:
        for batch in batches:
            with precision:
                loss = loss_fn(module, batch)
            loss.backward()
        module.zero_grad()
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-4)
    with Stopwatch(module.device) as watch:
        for batch in batches:
            with precision:
                loss = loss_fn(module, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    seconds = watch.seconds
    with FlopCounterMode(display=False) as counter:
        for batch in batches:
            with precision:
                loss = loss_fn(module, batch)
            loss.backward()
    module.zero_grad()
    return seconds, counter.get_total_flops()


def main() -> None:
    parser = benchmark_parser(__doc__, bf16=True, compile=True)
    parser.add_argument("--configs", nargs="+", default=["configs/translation/base.yaml"],
                        help="a translation base config and its overlays, composed in order")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the config's")
    args = parser.parse_args()

    device = torch.device(args.device)
    overrides = [] if args.batch_size is None else ["--data.batch_size", str(args.batch_size)]
    data, module = build(args.configs, *overrides)
    module.to(device)
    if args.compile:
        module.decoder._advance = torch.compile(module.decoder._advance, dynamic=True)
    precision = torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()
    bucketed = [move_data_to_device(b, device) for b in itertools.islice(iter(data.train_dataloader()), args.batches)]
    generator = torch.Generator().manual_seed(0)
    random_batches = [move_data_to_device(b, device) for b in itertools.islice(
        iter(DataLoader(data.datasets["train"], batch_size=data.batch_size, shuffle=True, generator=generator,
                        collate_fn=already_collated)), args.batches)]
    result: dict[str, object] = {"benchmark": "training_throughput", "configs": args.configs, "batches": args.batches,
                                 "batch_size": data.batch_size, "device": str(device), "bf16": args.bf16,
                                 "compile": args.compile}
    initial = {name: tensor.clone() for name, tensor in module.state_dict().items()}
    speeds = {}
    for name, batches, loss_fn in (("captra", bucketed, captra_loss), ("straightforward", random_batches, straightforward_loss)):
        module.load_state_dict(initial)
        seconds, flops = run(module, batches, loss_fn, precision, warm_up=args.compile or device.type == "cuda")
        tokens = sum(int((b["tgt"][:, 1:] != PAD_ID).sum()) for b in batches)
        speeds[name] = tokens / seconds
        result[name] = {"target_tokens_per_s": round(tokens / seconds, 1), "seconds": round(seconds, 2),
                        "gflop_per_s": round(flops / seconds / 1e9, 2), "gflop": round(flops / 1e9, 2)}
    result["speedup"] = round(speeds["captra"] / speeds["straightforward"], 2)

    config, vocab = module.decoder_config, len(module.texts["tgt"].vocab)
    rows = data.batch_size * 14  # batch x a typical target length
    shapes = {
        "output_layer": (rows, config.output_size, vocab),
        "decoder_cell": (data.batch_size, config.embedding_size + module.encoder.output_size + config.hidden_size,
                         4 * config.hidden_size),
        "key_projection": (rows, module.encoder.output_size, config.attention_size),
    }
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    peaks = {name: matmul_flops_per_s(*shape, device=device, dtype=dtype) / 1e9 for name, shape in shapes.items()}
    peak = max(peaks.values())
    result["matmul_gflop_per_s"] = {name: round(value, 2) for name, value in peaks.items()}
    for name in ("captra", "straightforward"):
        result[name]["fraction_of_matmul_peak"] = round(result[name]["gflop_per_s"] / peak, 3)
    print(json.dumps({**result, **metadata()}, indent=1))


if __name__ == "__main__":
    main()
