"""Training characters per second of captra's language model beside a char-rnn-sized reference written the usual way.

- "captra": `LanguageModelModule.training_step` on the config's batches (tiny Shakespeare windows, the state carried
  from window to window): the shared decoder without a source (one fused RNN call per window, the deep-output
  layer, the softmax over all steps at once).
- "reference": the same sizes as most PyTorch char-rnn ports write them: nn.Embedding -> nn.LSTM/GRU/RNN ->
  nn.Linear, with the state carried and detached the same way (no deep-output layer, so fewer FLOPs per character).
Both take forward + backward + gradient clipping + Adam steps on the same batches, one after the other, in one
process. Prints one JSON object.

    python benchmarks/char_lm_throughput.py [--configs configs/language_model/base.yaml] [--batches 20] [--device cuda]
        [--set model.decoder.hidden_size=128 ...]
"""

from __future__ import annotations

import itertools
import json

import torch
import torch.nn.functional as F
from lightning.fabric.utilities.apply_func import move_data_to_device
from torch import nn

from _setup import Stopwatch, benchmark_parser, build, metadata
from captra.common.text.vocab import PAD_ID


class ReferenceCharRNN(nn.Module):
    """char-rnn as PyTorch ports write it: embedding, a recurrent stack, a linear output layer."""

    def __init__(self, cell: str, vocab: int, embedding: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embedding)
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell](embedding, hidden, layers, batch_first=True,
                                                                           dropout=dropout if layers > 1 else 0.0)
        self.output = nn.Linear(hidden, vocab)
        self.state = None

    def loss(self, tgt: torch.Tensor) -> torch.Tensor:
        outputs, state = self.rnn(self.embedding(tgt[:, :-1]), self.state)  # (B, T, H)
        self.state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        logits = self.output(outputs)  # (B, T, V)
        targets = tgt[:, 1:]
        return F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD_ID, reduction="sum") / (targets != PAD_ID).sum()


def steps_per_s(loss_of, parameters: list[torch.Tensor], batches: list[dict], device: torch.device, clip: float) -> float:
    """Seconds for one optimizer step per batch (after one untimed warm-up step)."""
    optimizer = torch.optim.Adam(parameters, lr=1e-3)

    def step(batch: dict) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_of(batch).backward()
        torch.nn.utils.clip_grad_norm_(parameters, clip)
        optimizer.step()

    step(batches[0])
    with Stopwatch(device) as watch:
        for batch in batches[1:]:
            step(batch)
    return watch.seconds


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--configs", nargs="+", default=["configs/language_model/base.yaml"])
    parser.add_argument("--batches", type=int, default=20, help="timed batches (plus one warm-up)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config settings, e.g. data.window=50")
    args = parser.parse_args()
    device = torch.device(args.device)
    data, module = build(args.configs, *[f"--{setting}" for setting in args.set])
    module = module.to(device).train()
    loader = data.train_dataloader()
    batches = [move_data_to_device(batch, device) for batch in itertools.islice(loader, args.batches + 1)]
    characters = sum(int((batch["tgt"][:, 1:] != PAD_ID).sum()) for batch in batches[1:])
    config = module.decoder_config
    reference = ReferenceCharRNN(config.cell, len(module.texts["tgt"].vocab), config.embedding_size, config.hidden_size,
                                 config.num_layers, config.dropout).to(device).train()
    clip = 5.0
    captra_s = steps_per_s(lambda batch: module.training_step(batch, 0), list(module.parameters()), batches, device, clip)
    reference_s = steps_per_s(lambda batch: reference.loss(batch["tgt"]), list(reference.parameters()), batches, device, clip)
    print(json.dumps({
        "configs": args.configs, "settings": args.set, "device": str(device), "timed_batches": args.batches,
        "batch": list(batches[1]["tgt"].shape), "cell": config.cell, "layers": config.num_layers,
        "hidden": config.hidden_size, "parameters": {"captra": sum(p.numel() for p in module.parameters()),
                                                     "reference": sum(p.numel() for p in reference.parameters())},
        "chars_per_s": {"captra": round(characters / captra_s), "reference": round(characters / reference_s)},
        "captra_over_reference": round(reference_s / captra_s, 3), **metadata(),
    }, indent=1))


if __name__ == "__main__":
    main()
