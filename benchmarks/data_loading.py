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
import platform
import subprocess
import time

import torch

from common.cli import run_lightning


def build(config: str):
    """The config's data module (set up for fit) and model, without training."""
    cli = run_lightning(["fit", "-c", config, "--trainer.max_epochs", "0", "--trainer.logger", "false",
                         "--trainer.enable_checkpointing", "false", "--trainer.enable_progress_bar", "false",
                         "--trainer.enable_model_summary", "false"])
    return cli.datamodule, cli.model


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
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(json.dumps({"benchmark": "data_loading", "batches": args.batches, "results": results,
                      "torch_threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
                      "commit": commit}, indent=1))


if __name__ == "__main__":
    main()
