"""int8 inference on CPUs (`--int8`): dynamic quantisation of the linear and recurrent layers.

Weights are stored as int8 (per tensor, symmetric around their range), activations are quantised per call
from their observed range, and the matrix products run in fbgemm's / oneDNN's int8 kernels. This is PyTorch's
own `torch.ao.quantization.quantize_dynamic`: with torch 2.14 it is deprecated in favour of torchao, but
torchao's int8 schemes cover `nn.Linear` only, and the recurrent layers (the encoder's BiLSTM, the decoder's
LSTM cells) are where CPU decoding spends its time; PyTorch's version quantises those too and needs no
compilation. A layer whose weight a module reads directly rather than calling it (listed by that module's
`float_layers()`) stays in float.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn
from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

# The layer kinds quantised, in groups (benchmarks/int8_decoding.py --by-layer times each group alone).
LAYER_GROUPS: dict[str, tuple[type[nn.Module], ...]] = {
    "linear": (nn.Linear,), "recurrent_layers": (nn.LSTM, nn.GRU), "recurrent_cells": (nn.LSTMCell, nn.GRUCell, nn.RNNCell),
}
QUANTISED_TYPES = tuple(kind for kinds in LAYER_GROUPS.values() for kind in kinds)


def quantize_int8(module: nn.Module, types: tuple[type[nn.Module], ...] = QUANTISED_TYPES) -> nn.Module:
    """An int8 copy of `module` (in eval mode, for CPU inference) with its layers of `types` quantised; `module`
    itself is left as it was."""
    keep_float = {id(layer) for owner in module.modules() if hasattr(owner, "float_layers") for layer in owner.float_layers()}
    names = {name: default_dynamic_qconfig for name, layer in module.named_modules()
             if isinstance(layer, types) and id(layer) not in keep_float}
    with warnings.catch_warnings():  # the deprecation notices of torch.ao and of quantised tensors
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        quantised = quantize_dynamic(copy.deepcopy(module).cpu().eval(), names, dtype=torch.qint8)
    return quantised


def check_int8_device(device: torch.device) -> None:
    """int8 kernels are CPU kernels: refuse another device in one line."""
    if device.type != "cpu":
        raise ValueError(f"--int8 runs on the CPU only (got --device {device}); use --device cpu")
