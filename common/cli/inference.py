"""What the inference commands (`captra translate`, `captra caption`, `captra report`) share: device, int8 and
decoding settings."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from captra.common.decoding.settings import SearchConfig
from captra.common.decoding.int8 import check_int8_device, choose_int8
from captra.common.text.files import DataError, read_lines


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda when available, else cpu; anything else as torch spells it (cpu, cuda:1, ...)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def decoding_config(
    trained: SearchConfig, beam: int | None, n_best: int = 1, length_penalty: float | None = None
) -> SearchConfig:
    """The checkpoint's search settings with the command line's beam / n-best / length penalty."""
    if n_best < 1 or (beam is not None and beam < 1):
        raise ValueError("--beam and --n-best must be at least 1")
    beam = max(beam if beam is not None else trained.beam_size, n_best)
    config = replace(trained, strategy="beam" if beam > 1 else "greedy", beam_size=beam, n_best=n_best)
    return config if length_penalty is None else replace(config, length_penalty=length_penalty)


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """--device and --int8."""
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    parser.add_argument("--int8", nargs="?", const="auto", choices=("auto", "force"), default=None,
                        help="CPU only: decode with int8 weights in the linear and recurrent layers (dynamic "
                             "quantisation) if a quick measurement finds it faster on this CPU, else in fp32 with the "
                             "reason; '--int8 force' quantises regardless")


def place(module: nn.Module, device: torch.device, int8: str | None) -> nn.Module:
    """The module on `device`; with `int8` ("auto": where it pays, "force"; CPU only) its int8-quantised copy, the
    choice and its reason said in one line on stderr."""
    if int8:
        check_int8_device(device)
        choice = choose_int8(module, force=int8 == "force")
        print(f"captra: {choice.reason}", file=sys.stderr)
        return choice.module
    return module.to(device)


def input_name(source: str) -> str:
    """How messages name an inference command's input: the file, or <stdin> for "-"."""
    return "<stdin>" if source == "-" else source


def read_input(source: str) -> list[str]:
    """The lines of a UTF-8 text file (gzip if it ends in .gz), or of stdin for "-"; text that is not UTF-8 is a
    DataError naming the input and line."""
    if source != "-":
        return read_lines(Path(source))
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(f"<stdin>:{line}: not UTF-8 text ({error.reason})") from error
