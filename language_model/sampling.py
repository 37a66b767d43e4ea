"""Continuing a prompt with a trained language model: sampled (with a temperature), greedy or beam search."""

from __future__ import annotations

from dataclasses import replace

import torch

from captra.common.decoding.settings import SearchConfig
from captra.common.text.vocab import UNK_ID
from captra.language_model.model import LanguageModelModule


def prompt_ids(module: LanguageModelModule, prompt: str) -> list[int]:
    """The prompt's token ids; a token the model's vocabulary lacks is refused, named."""
    pipeline = module.texts["tgt"]
    tokens = pipeline.tokenizer.tokenize(prompt)
    unknown = sorted({token for token, index in zip(tokens, pipeline.vocab.encode(tokens)) if index == UNK_ID})
    if unknown:
        raise ValueError(f"--prompt {prompt!r}: {', '.join(map(repr, unknown))} not in the model's vocabulary "
                         f"(the characters or words of its training text)")
    return pipeline.vocab.encode(tokens)


def continue_prompt(module: LanguageModelModule, prompt: str, length: int, config: SearchConfig, count: int = 1,
                    device: torch.device | None = None) -> list[str]:
    """`count` texts, each the prompt followed by `length` tokens of its continuation (by `config`'s strategy and
    temperature; sampling draws from torch's global generator)."""
    if length < 1 or count < 1:
        raise ValueError(f"--length {length} and the number of samples {count}: each at least 1")
    ids = prompt_ids(module, prompt)
    total = len(ids) + length  # the prompt is part of each output
    config = replace(config, max_len_a=0.0, max_len_b=total, max_length=total, min_len_a=0.0, min_len_b=total,
                     n_best=1, beam_size=max(config.beam_size, 1))
    device = device or module.device
    prefix = torch.tensor([ids] * count, dtype=torch.long, device=device) if ids else None
    batch = {"ids": torch.arange(count)}
    module = module.to(device)
    hypotheses = module.decode(batch, config, prefix=prefix)
    return [module.texts["tgt"].decode(nbest[0].tokens) for nbest in hypotheses]
