"""What the benchmark scripts share: their arguments, a stopwatch, building a config's data and model, and
run metadata."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from captra.common.cli.main import run_lightning
from captra.common.provenance import git_commit, machine
from captra.common.training.throughput import synchronize


def benchmark_parser(doc: str, *, checkpoint: bool = False, data_dir: str | None = None,
                     batch_size: int | None = None, bf16: bool = False, compile: bool = False) -> argparse.ArgumentParser:
    """The arguments the benchmarks share: always --device; --ckpt, --data-dir, --batch-size, --bf16 and
    --compile for those that take them. `doc` is the script's docstring (its first line becomes the description)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default: cpu)")
    if checkpoint:
        parser.add_argument("--ckpt", required=True, help="the checkpoint to measure")
    if data_dir is not None:
        parser.add_argument("--data-dir", default=data_dir, help=f"data folder (default: {data_dir})")
    if batch_size is not None:
        parser.add_argument("--batch-size", type=int, default=batch_size, help=f"batch size (default: {batch_size})")
    if bf16:
        parser.add_argument("--bf16", action="store_true", help="run under torch.autocast(bfloat16), as bf16-mixed does")
    if compile:
        parser.add_argument("--compile", action="store_true", help="torch.compile the decoder's recurrent step")
    return parser


class Stopwatch:
    """Wall-clock seconds of a `with` block; queued GPU work is waited for at both ends, so the block's own
    work is what is timed."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.seconds = 0.0

    def __enter__(self) -> "Stopwatch":
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exception: object) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._start


def timed(function: Callable[[], Any], device: torch.device | str = "cpu") -> tuple[float, Any]:
    """(seconds, result) of one call."""
    with Stopwatch(device) as watch:
        result = function()
    return watch.seconds, result


def build(configs: list[str], *overrides: str):
    """The data module (set up for fit) and model of composed configs, without training or writing logs."""
    config_args = [word for config in configs for word in ("-c", config)]
    cli = run_lightning(["fit", *config_args, "--trainer.max_epochs", "0", "--trainer.logger", "false",
                         "--trainer.enable_progress_bar", "false",
                         "--trainer.enable_model_summary", "false", "--trainer.default_root_dir", "/tmp/captra-bench",
                         *overrides])
    cli.model.trainer = None  # the benchmarks call training_step themselves, outside Lightning's loop
    return cli.datamodule, cli.model


def metadata() -> dict[str, object]:
    """The machine and the captra commit (CAPTRA_COMMIT where the checkout has no history)."""
    return {**machine(), "commit": git_commit()}


def matmul_flops_per_s(m: int, k: int, n: int, repeats: int = 20, device: torch.device | str = "cpu",
                       dtype: torch.dtype = torch.float32) -> float:
    """This machine's `torch.mm` speed for an (m, k) x (k, n) product of `dtype`: the physical reference."""
    a = torch.randn(m, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    repeats = repeats if torch.device(device).type == "cpu" else repeats * 50  # microseconds each on a GPU
    torch.mm(a, b)
    with Stopwatch(device) as watch:
        for _ in range(repeats):
            torch.mm(a, b)
    return 2 * m * k * n * repeats / watch.seconds


def matmul_ceiling(batched: Callable[[], object], batched_s: float, single_s: float,
                   shape: tuple[int, int, int]) -> dict[str, float]:
    """How close batched decoding is to doing nothing but its matmuls at the machine's matmul speed.

    `batched` is run once more under torch.utils.flop_counter (matmul, conv and attention FLOPs;
    recurrent layers run by oneDNN/cuDNN kernels, such as the packed encoder LSTM, are not counted).
    `speedup_ceiling` is the one-at-a-time time over that matmul-only time: the speedup batching
    would reach if everything but the matmuls were free.
    """
    with FlopCounterMode(display=False) as counter:
        batched()
    flops = counter.get_total_flops()
    peak = matmul_flops_per_s(*shape)
    floor = flops / peak
    return {"batched_gflop": round(flops / 1e9, 2), "matmul_gflop_per_s": round(peak / 1e9, 2),
            "matmul_shape": list(shape), "matmul_only_s": round(floor, 3),
            "batched_fraction_of_matmul_peak": round(floor / batched_s, 3),
            "speedup_ceiling": round(single_s / floor, 2)}
