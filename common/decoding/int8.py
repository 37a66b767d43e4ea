"""int8 inference on CPUs (`--int8`): dynamic quantisation of the linear and recurrent layers.

Weights are stored as int8 (per tensor, symmetric around their range), activations are quantised per call
from their observed range, and the matrix products run in fbgemm's / oneDNN's int8 kernels. This is PyTorch's
own `torch.ao.quantization.quantize_dynamic`: with torch 2.14 it is deprecated in favour of torchao, but
torchao's int8 schemes cover `nn.Linear` only, and the recurrent layers (the encoder's BiLSTM, the decoder's
LSTM cells) are where CPU decoding spends its time; PyTorch's version quantises those too and needs no
compilation. A layer whose weight a module reads directly rather than calling it (listed by that module's
`float_layers()`) stays in float.

Whether int8 pays depends on the CPU (its int8 instructions: AVX2 alone, AVX-512, VNNI, AMX) and on the model's size
(at small sizes quantising each call's activations costs what the int8 matrix products save). So `--int8` measures
first (`choose_int8`): a few decoder steps on a batch of beam-search size, fp32 against int8, and decodes in fp32
with a one-line reason when int8 is not at least MIN_SPEEDUP times as fast; `--int8 force` quantises regardless.
Dynamic quantisation scales each layer's input over the whole batch, so int8 outputs can depend on which inputs
share a batch (fp32 decoding is batch-invariant).
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass

import torch
from torch import nn
from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

from captra.common.nn.memory import Memory
from captra.common.provenance import cpu
from captra.common.text.vocab import BOS_ID

MIN_SPEEDUP = 1.1  # int8 is kept when a decoder step runs at least this many times as fast as in fp32
PROBE_ROWS, PROBE_POSITIONS, PROBE_STEPS = 320, 20, 12  # 64 inputs x beam 5, 20 memory positions, 12 steps

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


def uses_int8(module: nn.Module) -> bool:
    """Whether any layer of `module` runs with int8 weights."""
    return any(type(layer).__module__.startswith("torch.ao.nn.quantized") for layer in module.modules())


def decoder_step_seconds(module: nn.Module, repeats: int = 3) -> float:
    """The fastest of `repeats` runs of PROBE_STEPS greedy decoder steps of `module` (or an ensemble's first
    member) on a random memory of PROBE_ROWS rows (a warm-up run first)."""
    decoder = getattr(module, "first", module).decoder
    generator = torch.Generator().manual_seed(0)
    states = torch.randn(PROBE_ROWS, PROBE_POSITIONS, decoder.memory_size, generator=generator)  # (B, S, D)
    memory = Memory(states=states, mask=torch.ones(PROBE_ROWS, PROBE_POSITIONS, dtype=torch.bool),
                    summary=torch.randn(PROBE_ROWS, decoder.summary_size, generator=generator))  # summary (B, D')
    best = float("inf")
    with torch.inference_mode():
        for run in range(repeats + 1):
            started = time.perf_counter()
            prepared = decoder.prepare(memory)
            state = decoder.init_state(prepared)
            tokens = torch.full((PROBE_ROWS,), BOS_ID, dtype=torch.long)
            for _ in range(PROBE_STEPS):
                logits, state, _ = decoder.step(tokens, state, prepared)
                tokens = logits.argmax(-1)
            if run:
                best = min(best, time.perf_counter() - started)
    return best


@dataclass(frozen=True)
class Int8Choice:
    """What `--int8` decided: the module to decode with, whether it is the int8 copy, and why, in one line."""

    module: nn.Module
    int8: bool
    reason: str


def choose_int8(module: nn.Module, force: bool = False) -> Int8Choice:
    """The int8 copy of `module` if it pays on this CPU (or `force`), else `module` itself (fp32), with the reason."""
    quantised = quantize_int8(module)
    info = cpu()
    where = (f"{info['cpu']} ({', '.join(info['cpu_extensions']) or 'no vector extension listed'}; torch kernels "
             f"{info['torch_cpu_capability']}, int8 engine {info['quantized_engine']})")
    if force:
        return Int8Choice(quantised, True, f"int8 weights (--int8 force) on {where}")
    speedup = decoder_step_seconds(module) / decoder_step_seconds(quantised)
    if speedup >= MIN_SPEEDUP:
        return Int8Choice(quantised, True, f"int8 weights: a decoder step runs {speedup:.2f}x as fast as in fp32 on {where}")
    return Int8Choice(module, False, f"--int8 does not pay here (a decoder step {speedup:.2f}x as fast as in fp32, "
                                     f"below {MIN_SPEEDUP}x, on {where}): decoding in fp32; --int8 force quantises anyway")
