"""What the benchmark scripts share: building a config's data and model, and run metadata."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from captra.common.cli import run_lightning
from captra.common.throughput import synchronize


def build(config: str, *overrides: str):
    """The config's data module (set up for fit) and model, without training or writing logs."""
    cli = run_lightning(["fit", "-c", config, "--trainer.max_epochs", "0", "--trainer.logger", "false",
                         "--trainer.enable_progress_bar", "false",
                         "--trainer.enable_model_summary", "false", "--trainer.default_root_dir", "/tmp/captra-bench",
                         *overrides])
    cli.model.trainer = None  # the benchmarks call training_step themselves, outside Lightning's loop
    return cli.datamodule, cli.model


def metadata() -> dict[str, object]:
    commit = os.environ.get("CAPTRA_COMMIT") or subprocess.run(  # set where the checkout has no history
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    gpu = {"gpu": torch.cuda.get_device_name()} if torch.cuda.is_available() else {}
    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(), **gpu, "commit": commit}


def matmul_flops_per_s(m: int, k: int, n: int, repeats: int = 20, device: torch.device | str = "cpu",
                       dtype: torch.dtype = torch.float32) -> float:
    """This machine's `torch.mm` speed for an (m, k) x (k, n) product of `dtype`: the physical reference."""
    a = torch.randn(m, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    repeats = repeats if torch.device(device).type == "cpu" else repeats * 50  # microseconds each on a GPU
    torch.mm(a, b)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    synchronize(device)
    return 2 * m * k * n * repeats / (time.perf_counter() - start)


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
