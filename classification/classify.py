"""`captra classify --ckpt CKPT [--input FILE]`: one line per input line, the predicted class then every class's
probability, tab-separated."""

from __future__ import annotations

import argparse
import sys

import torch

from captra.common.checkpoints.loading import load_module
from captra.common.cli.inference import add_device_arguments, input_name, place, read_input, resolve_device
from captra.common.data.batching import pad
from captra.common.text.files import DataError
from captra.classification.model import ClassificationModule

HELP = "classify sentences (a file or stdin, one per line) with a classification checkpoint"
MAX_TOKENS = 1000  # longer inputs are truncated (with a warning) to bound time and memory


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Classify each line of the input. Output: one line per input line, in order: the predicted class, then "
        "a tab and the probability of every class in class order (the header line printed first with --header "
        "names them: 'class<TAB>p(NAME)...'). An empty input line is an error naming the line.")
    parser.add_argument("--ckpt", required=True, help="a classification checkpoint (.ckpt)")
    parser.add_argument("--input", default="-", help="text file, one sentence per line (default: stdin)")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences classified together")
    parser.add_argument("--header", action="store_true", help="print a header line naming the columns first")
    add_device_arguments(parser)


def encode_lines(module: ClassificationModule, name: str, lines: list[str]) -> list[list[int]]:
    """Token ids of every line (at most MAX_TOKENS); an empty line is a DataError naming it."""
    encoded = []
    for number, line in enumerate(lines, start=1):
        ids = module.texts["src"].encode(line)
        if not ids:
            raise DataError(f"{name}:{number}: empty line: nothing to classify")
        if len(ids) > MAX_TOKENS:
            print(f"{name}:{number}: {len(ids)} tokens, truncated to {MAX_TOKENS}", file=sys.stderr)
        encoded.append(ids[:MAX_TOKENS])
    return encoded


def classify_ids(module: ClassificationModule, encoded: list[list[int]], batch_size: int,
                 device: torch.device) -> list[tuple[list[float], list[float] | None]]:
    """(class probabilities, attention weights over its tokens or None) of each id list, in order; batched by
    length (a classifier over packed sequences gives every row the same result in any batch)."""
    results: list[tuple[list[float], list[float] | None]] = [([], None)] * len(encoded)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = {"src": pad([encoded[i] for i in rows]).to(device),  # (B, S)
                 "src_lengths": torch.tensor([len(encoded[i]) for i in rows], device=device)}  # (B,)
        probabilities, weights = module.classify(batch)
        for position, row in enumerate(rows):
            attention = None if weights is None else weights[position, : len(encoded[row])].tolist()
            results[row] = (probabilities[position].tolist(), attention)
    return results


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    device = resolve_device(args.device)
    module = place(load_module(args.ckpt, task="classification"), device, args.int8)
    name, lines = input_name(args.input), read_input(args.input)
    results = classify_ids(module, encode_lines(module, name, lines), args.batch_size, device)
    if args.header:
        print("\t".join(["class", *(f"p({c})" for c in module.classes)]))
    for probabilities, _ in results:
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        print("\t".join([module.classes[best], *(f"{p:.4f}" for p in probabilities)]))
    return 0
