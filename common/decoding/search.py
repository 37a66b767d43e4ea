"""Search strategies for a batch: greedy, sampling (with temperature) and beam search (common/decoding/beam_search.py).

Greedy and sampling step the whole batch together; every strategy returns one list of hypotheses (best first)
per input, and continues a `prefix` (B, P) where one is given (its tokens are the hypotheses' first ones).
"""

from __future__ import annotations

import torch

from captra.common.decoding.beam_search import beam_search
from captra.common.decoding.settings import (Decoder, Hypothesis, SearchConfig, TokenRules, check_prefix, constrain,
                                             forced_tokens, length_limits)
from captra.common.nn.memory import Memory
from captra.common.text.vocab import BOS_ID, EOS_ID, PAD_ID


def search(
    decoder: Decoder, memory: Memory, config: SearchConfig, keep_attention: bool = False, rules: TokenRules | None = None,
    prefix: torch.Tensor | None = None,
) -> list[list[Hypothesis]]:
    """Decode a batch with the configured strategy; one list of hypotheses (best first) per input, each starting
    with its row of `prefix` (B, P) where one is given."""
    if config.strategy == "beam":
        return beam_search(decoder, memory, config, keep_attention, rules, prefix)
    if config.strategy in ("greedy", "sample"):
        return greedy_search(decoder, memory, config, config.strategy == "sample", keep_attention, rules, prefix)
    raise ValueError(f"unknown search strategy {config.strategy!r}; expected beam, greedy or sample")


@torch.no_grad()
def greedy_search(
    decoder: Decoder, memory: Memory, config: SearchConfig, sample: bool = False, keep_attention: bool = False,
    rules: TokenRules | None = None, prefix: torch.Tensor | None = None,
) -> list[list[Hypothesis]]:
    """Most likely (or, with `sample`, a sampled) next token at every step, whole batch at once; the tokens of
    `prefix` (B, P) first where one is given."""
    memory = decoder.prepare(memory)
    state = decoder.init_state(memory)
    min_len, max_len = length_limits(memory, config)  # (B,)
    batch = memory.states.size(0)
    if prefix is not None:
        check_prefix(prefix, batch)
        prefix = prefix.to(memory.states.device)
        max_len = torch.maximum(max_len, (prefix != PAD_ID).sum(1))  # the prefix is written whole
    tokens = torch.full((batch,), BOS_ID, dtype=torch.long, device=memory.states.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=tokens.device)
    scores = torch.zeros(batch, device=tokens.device)
    outputs, attentions = [], []
    for step in range(int(max_len.max()) + 1):
        logits, state, weights = decoder.step(tokens, state, memory)  # (B, V)
        log_probs = constrain(torch.log_softmax(logits.float(), dim=-1), step, min_len, max_len, tokens, rules,
                              forced_tokens(prefix, step))
        if sample:
            probs = torch.softmax(log_probs / config.temperature, dim=-1)
            tokens = torch.multinomial(probs, 1).squeeze(1)  # (B,)
        else:
            tokens = log_probs.argmax(dim=-1)  # (B,)
        tokens = tokens.masked_fill(finished, PAD_ID)
        scores += log_probs.gather(1, tokens.unsqueeze(1)).squeeze(1).masked_fill(finished, 0.0)
        outputs.append(tokens)
        if keep_attention and weights is not None:
            attentions.append(weights)
        finished |= tokens == EOS_ID
        if bool(finished.all()):
            break
    generated = torch.stack(outputs, dim=1).tolist()  # (B, T)
    attention = torch.stack(attentions, dim=1) if attentions else None  # (B, T, S)
    results = []
    for row, sequence in enumerate(generated):
        length = sequence.index(EOS_ID) if EOS_ID in sequence else len(sequence)
        row_attention = None if attention is None else attention[row, :length].cpu()
        results.append([Hypothesis(sequence[:length], float(scores[row]), row_attention)])
    return results
