"""Where a number came from: the captra commit and the machine, for reports and benchmark JSON."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch


def git_commit() -> str:
    """The checkout's short commit; `CAPTRA_COMMIT` overrides it (a copy without history); else "unknown"."""
    if os.environ.get("CAPTRA_COMMIT"):
        return os.environ["CAPTRA_COMMIT"]
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent)
    except OSError:  # no git on this machine
        return "unknown"
    return result.stdout.strip() or "unknown"


# The vector extensions that decide matrix-kernel speed (fp32, bf16 and int8), as Linux's /proc/cpuinfo names them.
VECTOR_EXTENSIONS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile",
                     "amx_bf16", "amx_int8", "asimd", "sve")


def cpu() -> dict[str, object]:
    """The CPU's model, the vector extensions it has of VECTOR_EXTENSIONS (read from /proc/cpuinfo; none listed
    elsewhere), the instruction set torch's kernels dispatch to and the int8 engine."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            model = value.strip()
        elif key.strip() in ("flags", "Features") and not flags:
            flags = set(value.split())
    return {"cpu": model, "cpu_extensions": [name for name in VECTOR_EXTENSIONS if name in flags],
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "quantized_engine": torch.backends.quantized.engine}


def machine() -> dict[str, object]:
    """Host, processor, its vector extensions, GPU (when there is one), torch version and its CPU threads."""
    gpu = {"gpu": torch.cuda.get_device_name()} if torch.cuda.is_available() else {}
    return {"host": platform.node(), "machine": platform.processor() or platform.machine(), **cpu(), **gpu,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def describe_machine() -> str:
    """`machine()` in one line."""
    info = machine()
    extensions = ", ".join(info["cpu_extensions"]) or "no vector extension listed"
    return (f"{info['host']} ({info['machine']}, {info['cpu']} with {extensions}; torch kernels "
            f"{info['torch_cpu_capability']}; {info.get('gpu', 'no GPU')}), torch {info['torch']}, "
            f"{info['torch_threads']} CPU threads")
