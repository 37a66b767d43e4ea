"""Mixed precision where a kernel cannot follow it."""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch
from torch import Tensor


def fused_rnn_precision(tensor: Tensor) -> ContextManager[object]:
    """Where torch's fused RNN kernels (nn.LSTM / torch.lstm ...) run for `tensor`'s device.

    On the CPU they run in fp32 even under bf16 autocast (`--trainer.precision bf16-mixed`): oneDNN's
    bf16 RNN needs CPU bf16 instructions and fails without them. On a GPU autocast is left alone (cuDNN
    has bf16 RNNs). Inputs must then be fp32 on the CPU.
    """
    if tensor.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        return torch.autocast("cpu", enabled=False)
    return contextlib.nullcontext()
