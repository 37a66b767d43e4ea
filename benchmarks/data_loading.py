"""Data loading: training batches/s of each DataModule with its configured workers, against how fast the
model consumes them (training steps/s), so the loader is never the bottleneck (target: >= 5x).

For each config: time iterating the training DataLoader for --batches batches (no model), then time the
same number of teacher-forced training steps on pre-loaded batches (no loader). Prints one JSON object.

    python benchmarks/data_loading.py [--configs configs/translation/multi30k_en_de_small.yaml
        configs/captioning/flickr8k.yaml] [--batches 50]
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

from _setup import build, metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["configs/translation/multi30k_en_de_small.yaml",
                                                         "configs/captioning/flickr8k.yaml"])
    parser.add_argument("--batches", type=int, default=50)
    args = parser.parse_args()

    results = []
    for config in args.configs:
        data, model = build(config)
        loader = data.train_dataloader()
        start = time.perf_counter()
        batches = list(itertools.islice(iter(loader), args.batches))
        load_seconds = time.perf_counter() - start
        optimizer = model.configure_optimizers()["optimizer"]
        model.train()
        start = time.perf_counter()
        for index, batch in enumerate(batches):
            loss = model.training_step(batch, index)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        step_seconds = time.perf_counter() - start
        results.append({
            "config": config,
            "workers": data.num_workers,
            "batch_size": data.batch_size,
            "loader_batches_per_s": round(len(batches) / load_seconds, 2),
            "model_batches_per_s": round(len(batches) / step_seconds, 2),
            "loader_headroom": round(step_seconds / load_seconds, 2),
        })
    print(json.dumps({"benchmark": "data_loading", "batches": args.batches, "results": results, **metadata()}, indent=1))


if __name__ == "__main__":
    main()
