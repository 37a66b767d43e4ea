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


def machine() -> dict[str, object]:
    """Host, processor, GPU (when there is one), torch version and its CPU threads."""
    gpu = {"gpu": torch.cuda.get_device_name()} if torch.cuda.is_available() else {}
    return {"host": platform.node(), "machine": platform.processor() or platform.machine(), **gpu,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def describe_machine() -> str:
    """`machine()` in one line."""
    info = machine()
    return (f"{info['host']} ({info['machine']}, {info.get('gpu', 'no GPU')}), torch {info['torch']}, "
            f"{info['torch_threads']} CPU threads")
