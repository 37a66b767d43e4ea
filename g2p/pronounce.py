"""`captra pronounce WORD [WORD ...]` (or words on stdin, one per line): each word's pronunciation in ARPAbet."""

from __future__ import annotations

import argparse
import sys

import torch

from captra.common.checkpoints.loading import load_ensemble
from captra.common.cli.inference import add_device_arguments, decoding_config, place, read_input, resolve_device
from captra.common.data.batching import pad
from captra.common.decoding.settings import Hypothesis, SearchConfig
from captra.common.text.files import DataError
from captra.common.text.vocab import UNK_ID
from captra.g2p.model import G2PModule

HELP = "pronounce words with a grapheme-to-phoneme checkpoint (ARPAbet phonemes, n-best with scores)"
MAX_LETTERS = 100  # longer words are refused: no dictionary word comes near it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("words", nargs="*", help="words to pronounce (default: read from stdin, one per line)")
    parser.add_argument("--ckpt", required=True, action="append",
                        help="a g2p checkpoint (.ckpt); repeat it for an ensemble (log-probabilities averaged)")
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the checkpoint's); 1 = greedy")
    parser.add_argument("--n-best", type=int, default=1,
                        help="pronunciations per word, best first, one line each: WORD<TAB>PHONEMES")
    parser.add_argument("--scores", action="store_true",
                        help="add each pronunciation's score (length-normalised log-probability): WORD<TAB>SCORE<TAB>PHONEMES")
    parser.add_argument("--batch-size", type=int, default=256, help="words decoded together")
    add_device_arguments(parser)


def letter_ids(module: G2PModule, word: str, where: str) -> tuple[list[int], list[str]]:
    """A word's letter ids and its letters never seen in training (read as <unk>); an empty or over-long word, or
    one with a space, is a DataError naming `where`."""
    if not word.strip() or any(ch.isspace() for ch in word):
        raise DataError(f"{where}: {word!r} is not one word (no spaces; one word per line)")
    if len(word) > MAX_LETTERS:
        raise DataError(f"{where}: {len(word)} letters, more than {MAX_LETTERS}")
    ids = module.texts["src"].encode(word)
    return ids, sorted({letter for letter, i in zip(word.lower(), ids) if i == UNK_ID})


def decode_words(module: G2PModule, encoded: list[list[int]], config: SearchConfig, device: torch.device,
                 keep_attention: bool = False) -> list[list[Hypothesis]]:
    """Letter id lists decoded as one padded batch -> an n-best list each (batch-invariant)."""
    batch = {"src": pad(encoded).to(device),  # (B, S)
             "src_lengths": torch.tensor([len(ids) for ids in encoded], device=device)}  # (B,)
    return module.decode(batch, config, keep_attention=keep_attention)


def pronounce_ids(module: G2PModule, encoded: list[list[int]], config: SearchConfig, batch_size: int,
                  device: torch.device) -> list[list[tuple[str, float]]]:
    """`config.n_best` (phonemes, score) per word, decoded in batches of similar lengths, in input order."""
    outputs: list[list[tuple[str, float]]] = [[] for _ in encoded]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        for row, nbest in zip(rows, decode_words(module, [encoded[i] for i in rows], config, device)):
            outputs[row] = [(module.to_text(h), h.score) for h in nbest]
    return outputs


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    device = resolve_device(args.device)
    module = place(load_ensemble(args.ckpt, task="g2p"), device, args.int8)
    config = decoding_config(module.search_config, args.beam, args.n_best)
    if args.words:
        words, places = args.words, [f"word {n}" for n in range(1, len(args.words) + 1)]
    else:
        words = [line.strip() for line in read_input("-") if line.strip()]
        places = [f"<stdin> word {n}" for n in range(1, len(words) + 1)]
    encoded = []
    for word, where in zip(words, places):
        ids, unknown = letter_ids(module, word, where)
        if unknown:
            print(f"captra pronounce: {where}: {word!r} has letters not seen in training ({' '.join(unknown)}), read "
                  "as <unk>", file=sys.stderr)
        encoded.append(ids)
    outputs = pronounce_ids(module, encoded, config, args.batch_size, device) if encoded else []
    for word, nbest in zip(words, outputs):
        for phonemes, score in nbest:
            sys.stdout.write(f"{word}\t{score:.4f}\t{phonemes}\n" if args.scores else f"{word}\t{phonemes}\n")
    sys.stdout.flush()
    return 0
