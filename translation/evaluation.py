"""Translation inputs for `captra report`: a split's source lines and references, and decoding them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from common.report.plots import alignment_matrix
from common.report.split import SplitData
from common.search import SearchConfig
from common.textfile import read_lines
from translation.data import split_path
from translation.translate import MAX_SOURCE_TOKENS, translate_ids


def read_split(settings: dict[str, Any], split: str) -> SplitData:
    data_dir, src, tgt = Path(settings["data_dir"]), settings.get("src_lang", "en"), settings.get("tgt_lang", "de")
    sources, targets = read_lines(split_path(data_dir, split, src)), read_lines(split_path(data_dir, split, tgt))
    if len(sources) != len(targets):
        raise ValueError(f"{split}: {len(sources)} source lines but {len(targets)} reference lines")
    return SplitData(split, sources, [[t] for t in targets], [len(s.split()) for s in sources], "source words",
                     {"direction": f"{src}-{tgt}"})


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
