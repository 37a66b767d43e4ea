"""Tiny models and data shared by the tests."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import torch

from common.decoder import AttentionDecoder, DecoderConfig
from common.memory import Memory, padding_mask

SYMBOLS = "a b c d e f g h i j k l".split()


def random_memory(lengths: list[int], size: int = 16, seed: int = 0) -> Memory:
    """A memory of random states; padding positions hold large garbage so leaks would show."""
    generator = torch.Generator().manual_seed(seed)
    lengths_tensor = torch.tensor(lengths)
    states = torch.randn(len(lengths), max(lengths), size, generator=generator)
    mask = padding_mask(lengths_tensor)
    states = torch.where(mask.unsqueeze(2), states, torch.full_like(states, 1e3))
    summary = torch.randn(len(lengths), size, generator=generator)
    return Memory(states=states, mask=mask, summary=summary)


def tiny_decoder(attention: str = "additive", cell: str = "lstm", vocab: int = 20, size: int = 16, seed: int = 0, **kw) -> AttentionDecoder:
    torch.manual_seed(seed)
    config = DecoderConfig(cell=cell, embedding_size=8, hidden_size=size, attention=attention, attention_size=8,
                           output_size=8, dropout=0.0, **kw)
    return AttentionDecoder(config, vocab, memory_size=size, summary_size=size).eval()


def write_reverse_corpus(folder: Path, sizes: dict[str, int], seed: int = 0) -> None:
    """A synthetic parallel corpus: the target is the source reversed (`{split}.src/.tgt[.gz]`)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in sizes.items():
        sources = [" ".join(rng.choice(SYMBOLS) for _ in range(rng.randint(3, 8))) for _ in range(count)]
        targets = [" ".join(reversed(s.split())) for s in sources]
        with gzip.open(folder / f"{split}.src.gz", "wt", encoding="utf-8") as handle:
            handle.write("".join(s + "\n" for s in sources))
        (folder / f"{split}.tgt").write_text("".join(t + "\n" for t in targets), encoding="utf-8")
