"""Grapheme-to-phoneme in `captra report`: a split's words and pronunciations, decoding them, letter-phoneme
attention (NetTalk's alignment, learned)."""

from __future__ import annotations

import torch

from captra.common.decoding.settings import SearchConfig
from captra.common.report.plots import alignment_matrix
from captra.common.report.split import SplitData
from captra.g2p.data import G2PDataModule
from captra.g2p.model import G2PModule
from captra.g2p.pronounce import decode_words, pronounce_ids


def read_split(data: G2PDataModule, split: str) -> SplitData:
    """The split's words, every pronunciation of each a reference, lengths in letters."""
    words = data.words(split)
    references = [[" ".join(p) for p in data.lexicon[word]] for word in words]
    return SplitData(split, words, references, [len(word) for word in words], "letters")


def decode(module: G2PModule, data: SplitData, config: SearchConfig, batch_size: int, device: torch.device) -> list[str]:
    encoded = [module.texts["src"].encode(word) for word in data.inputs]
    return [nbest[0][0] for nbest in pronounce_ids(module, encoded, config, batch_size, device)]


def attention_figures(module: G2PModule, data: SplitData, rows: list[int], config: SearchConfig,
                      device: torch.device) -> list[bytes]:
    """Attention (phonemes x letters) of a few words, as PNG bytes."""
    figures = []
    for row in rows:
        ids = module.texts["src"].encode(data.inputs[row])
        best = decode_words(module, [ids], config, device, keep_attention=True)[0][0]
        phonemes = [module.texts["tgt"].vocab.itos[token] for token in best.tokens]
        figures.append(alignment_matrix(module.texts["src"].vocab.decode(ids), phonemes, best.attention))
    return figures
