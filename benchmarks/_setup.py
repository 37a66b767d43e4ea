"""What the benchmark scripts share: building a config's data and model, and run metadata."""

from __future__ import annotations

import platform
import subprocess

import torch

from common.cli import run_lightning


def build(config: str, *overrides: str):
    """The config's data module (set up for fit) and model, without training or writing logs."""
    cli = run_lightning(["fit", "-c", config, "--trainer.max_epochs", "0", "--trainer.logger", "false",
                         "--trainer.enable_progress_bar", "false",
                         "--trainer.enable_model_summary", "false", "--trainer.default_root_dir", "/tmp/captra-bench",
                         *overrides])
    cli.model.trainer = None  # the benchmarks call training_step themselves, outside Lightning's loop
    return cli.datamodule, cli.model


def metadata() -> dict[str, object]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(), "commit": commit}
