"""`captra translate`: one detokenized translation per input line, in input order, on stdout."""

from __future__ import annotations

import argparse
import sys

import torch
from tqdm import tqdm

from captra.common.checkpoints.loading import load_ensemble
from captra.common.cli.inference import add_device_arguments, decoding_config, place, read_input, resolve_device
from captra.common.decoding.settings import Hypothesis, SearchConfig
from captra.common.data.batching import pad
from captra.translation.model import TranslationModule

MAX_SOURCE_TOKENS = 250  # longer inputs are truncated (with a warning) to bound time and memory


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, action="append",
                        help="a translation checkpoint (.ckpt); repeat it to translate with an ensemble of several "
                             "(their log-probabilities averaged at every step)")
    parser.add_argument("--input", default="-", help="text file, one sentence per line (default: stdin)")
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the checkpoint's); 1 = greedy")
    parser.add_argument("--n-best", type=int, default=1, help="print this many translations per input line, best first")
    parser.add_argument("--scores", action="store_true",
                        help="prefix each translation with its score (length-normalised log-probability) and a tab")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences decoded together")
    parser.add_argument("--length-penalty", type=float, default=None, help="GNMT alpha (default: the checkpoint's)")
    add_device_arguments(parser)


def decode_sources(
    module: TranslationModule, encoded: list[list[int]], config: SearchConfig, device: torch.device,
    keep_attention: bool = False,
) -> list[list[Hypothesis]]:
    """Non-empty source id lists, decoded as one padded batch -> an n-best list each (batch-invariant: a source
    decodes to the same hypotheses in any batch)."""
    batch = {
        "src": pad(encoded).to(device),  # (B, S)
        "src_lengths": torch.tensor([len(ids) for ids in encoded], device=device),  # (B,)
    }
    return module.decode(batch, config, keep_attention=keep_attention)


def translate_scored(
    module: TranslationModule, encoded: list[list[int]], config: SearchConfig, batch_size: int, device: torch.device
) -> list[list[tuple[str, float]]]:
    """Source id lists -> `config.n_best` (detokenized output, score) pairs each, decoded in length-sorted batches.

    Scores are the search's (length-normalised log-probabilities). Empty sources give empty outputs scored 0, so
    outputs line up with inputs.
    """
    outputs: list[list[tuple[str, float]]] = [[("", 0.0)] * config.n_best for _ in encoded]
    order = sorted((i for i, ids in enumerate(encoded) if ids), key=lambda i: len(encoded[i]))
    with tqdm(total=len(order), desc="translating", unit="sent", file=sys.stderr, disable=None) as progress:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            for row, nbest in zip(rows, decode_sources(module, [encoded[i] for i in rows], config, device)):
                scored = [(module.to_text(h), h.score) for h in nbest]
                outputs[row] = scored + [("", 0.0)] * (config.n_best - len(scored))
            progress.update(len(rows))
    return outputs


def translate_ids(
    module: TranslationModule, encoded: list[list[int]], config: SearchConfig, batch_size: int, device: torch.device
) -> list[list[str]]:
    """`translate_scored` without the scores."""
    return [[text for text, _ in nbest] for nbest in translate_scored(module, encoded, config, batch_size, device)]


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    device = resolve_device(args.device)
    module = place(load_ensemble(args.ckpt, task="translation"), device, args.int8)
    config = decoding_config(module.search_config, args.beam, args.n_best, args.length_penalty)

    lines = read_input(args.input)
    source = module.texts["src"]
    encoded = [source.encode(line) for line in lines]
    for number, ids in enumerate(encoded, start=1):
        if len(ids) > MAX_SOURCE_TOKENS:
            print(f"line {number}: {len(ids)} tokens, truncated to {MAX_SOURCE_TOKENS}", file=sys.stderr)
            encoded[number - 1] = ids[:MAX_SOURCE_TOKENS]
    outputs = translate_scored(module, encoded, config, args.batch_size, device)
    if args.scores:
        sys.stdout.write("".join(f"{score:.4f}\t{text}\n" for nbest in outputs for text, score in nbest))
    else:
        sys.stdout.write("".join(text + "\n" for nbest in outputs for text, _ in nbest))
    sys.stdout.flush()
    return 0
