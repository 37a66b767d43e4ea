"""Translation in `captra report`: a split's source lines and references, decoding them, alignment matrices."""

from __future__ import annotations

import torch

from captra.common.report.plots import alignment_matrix
from captra.common.report.split import SplitData
from captra.common.decoding.settings import SearchConfig
from captra.translation.data import TranslationDataModule
from captra.translation.translate import MAX_SOURCE_TOKENS, translate_ids


def read_split(data: TranslationDataModule, split: str) -> SplitData:
    """Source lines, one reference each, and source lengths in words."""
    sources, targets = data.read_split(split)
    return SplitData(split, sources, [[t] for t in targets], [len(s.split()) for s in sources], "source words")


def decode(module, data: SplitData, config: SearchConfig, batch_size: int, device: torch.device) -> list[str]:
    encoded = [module.texts["src"].encode(line)[:MAX_SOURCE_TOKENS] for line in data.inputs]
    return [nbest[0] for nbest in translate_ids(module, encoded, config, batch_size, device)]


def attention_figures(module, data: SplitData, rows: list[int], config: SearchConfig, device: torch.device) -> list[bytes]:
    """Alignment matrices (output tokens x source tokens) of a few sentences, as PNG bytes."""
    figures = []
    for row in rows:
        ids = module.texts["src"].encode(data.inputs[row])[:MAX_SOURCE_TOKENS]
        if not ids:
            continue
        batch = {"src": torch.tensor([ids], device=device), "src_lengths": torch.tensor([len(ids)], device=device)}
        best = module.decode(batch, config, keep_attention=True)[0][0]
        source = module.texts["src"].vocab.decode(ids)
        output = [module.texts["tgt"].vocab.itos[token] for token in best.tokens]
        figures.append(alignment_matrix(source, output, best.attention))
    return figures
