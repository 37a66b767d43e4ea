"""Data loading: training batches/s of each DataModule with its configured workers, against how fast the
model consumes them (training steps/s), so the loader is never the bottleneck (target: >= 5x).

For each config: time iterating the training DataLoader for --batches batches (no model; pinned memory
when the trainer would train on a GPU; each batch dropped before the next, as in training), then time
the same number of teacher-forced training steps on pre-loaded batches (no loader; each step copies its
batch to --device, as Lightning does). Prints one JSON object.

    python benchmarks/data_loading.py [--configs BASE+OVERLAY ...] [--batches 50] [--device cuda]
        [--data.init_args.data_dir DIR ...]

(default: the main job's translation config and the Flickr8k captioning config.)

Any other argument is a `captra fit` override applied to every config.
"""

from __future__ import annotations

import itertools
import json

import torch
from lightning.fabric.utilities.apply_func import move_data_to_device

from _setup import Stopwatch, benchmark_parser, build, metadata

TRANSLATION = "configs/translation/base.yaml+configs/translation/multi30k_en_de_small.yaml"
CAPTIONING = "configs/captioning/base.yaml+configs/captioning/flickr8k.yaml"


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--configs", nargs="+", default=[TRANSLATION, CAPTIONING],
                        help="one run per entry; an entry composes configs joined by '+' (base+overlay)")
    parser.add_argument("--batches", type=int, default=50)
    args, overrides = parser.parse_known_args()

    device = torch.device(args.device)
    results = []
    for config in args.configs:
        data, model = build(config.split("+"), *overrides)
        model.to(device)
        loader = data.train_dataloader()
        with Stopwatch() as loading:
            for _ in itertools.islice(iter(loader), args.batches):
                pass  # each batch is dropped, as in training: its (pinned) memory is reused for the next
        load_seconds = loading.seconds
        batches = list(itertools.islice(iter(loader), args.batches))
        optimizer = model.configure_optimizers()["optimizer"]
        model.train()
        if device.type == "cuda":  # one untimed step: cuDNN plans and the caching allocator
            model.training_step(move_data_to_device(batches[0], device), 0).backward()
            model.zero_grad()
        with Stopwatch(device) as stepping:
            for index, batch in enumerate(batches):
                loss = model.training_step(move_data_to_device(batch, device), index)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        step_seconds = stepping.seconds
        results.append({
            "config": config,
            "workers": data.loader_workers,
            "pin_memory": data.pin_memory,
            "batch_size": data.batch_size,
            "loader_batches_per_s": round(len(batches) / load_seconds, 2),
            "model_batches_per_s": round(len(batches) / step_seconds, 2),
            "loader_headroom": round(step_seconds / load_seconds, 2),
        })
    print(json.dumps({"benchmark": "data_loading", "batches": args.batches, "device": str(device),
                      "results": results, **metadata()}, indent=1))


if __name__ == "__main__":
    main()
