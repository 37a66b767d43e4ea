"""Decoding written once for every decoder with `prepare / init_state / step` and states with `select`.

- greedy and sampling (with temperature): the whole batch steps together;
- beam search: one (sentences x beam) batch, top-2K over beam x vocabulary, GNMT length penalty,
  n-best lists; finished sentences leave the batch, so a sentence gets the same hypotheses alone
  or inside a batch of any other sentences.
Lengths are bounded per sentence relative to the memory length: max = a * S + b (capped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import torch
from torch import Tensor

from common.memory import Memory
from common.vocab import BOS_ID, EOS_ID, PAD_ID


@dataclass
class SearchConfig:
    """How to decode."""

    strategy: Literal["beam", "greedy", "sample"] = "beam"
    beam_size: int = 5
    n_best: int = 1  # hypotheses returned per input (beam search)
    length_penalty: float = 1.0  # GNMT alpha: score / ((5 + length) / 6) ** alpha; 0 turns it off
    temperature: float = 1.0  # sampling only
    max_len_a: float = 1.5  # max output tokens = a * memory length + b ...
    max_len_b: int = 10
    max_length: int = 200  # ... and never more than this
    min_len_a: float = 0.0  # min output tokens = a * memory length + b
    min_len_b: int = 1


@dataclass
class Hypothesis:
    """One output: token ids without `</s>`, its score, and (optionally) attention (T, S) per token."""

    tokens: list[int]
    score: float
    attention: Tensor | None = None


class Decoder(Protocol):
    def prepare(self, memory: Memory) -> Memory: ...

    def init_state(self, memory: Memory): ...

    def step(self, tokens: Tensor, state, memory: Memory) -> tuple[Tensor, object, Tensor | None]: ...


def length_limits(memory: Memory, config: SearchConfig) -> tuple[Tensor, Tensor]:
    """(B,) min and max numbers of tokens before `</s>` for each memory."""
    lengths = memory.lengths.float()  # (B,)
    max_len = (config.max_len_a * lengths + config.max_len_b).long().clamp(1, config.max_length)
    min_len = (config.min_len_a * lengths + config.min_len_b).long().clamp(min=0)
    return torch.minimum(min_len, max_len), max_len


def constrain(log_probs: Tensor, step: int, min_len: Tensor, max_len: Tensor) -> Tensor:
    """Forbid `<pad>` and `<s>`, forbid `</s>` before min_len tokens, force it once max_len tokens are written.

    log_probs (N, V), changed in place and returned; min_len, max_len (N,).
    """
    log_probs[:, [PAD_ID, BOS_ID]] = float("-inf")  # never generated
    too_short = step < min_len  # (N,)
    log_probs[:, EOS_ID].masked_fill_(too_short, float("-inf"))
    at_limit = (step >= max_len).nonzero().squeeze(1)  # rows that must end now
    if at_limit.numel():
        eos = log_probs[at_limit, EOS_ID]
        log_probs[at_limit] = float("-inf")
        log_probs[at_limit, EOS_ID] = eos
    return log_probs


def search(decoder: Decoder, memory: Memory, config: SearchConfig, keep_attention: bool = False) -> list[list[Hypothesis]]:
    """Decode a batch with the configured strategy; one list of hypotheses (best first) per input."""
    if config.strategy == "beam":
        return beam_search(decoder, memory, config, keep_attention)
    if config.strategy in ("greedy", "sample"):
        return greedy_search(decoder, memory, config, sample=config.strategy == "sample", keep_attention=keep_attention)
    raise ValueError(f"unknown search strategy {config.strategy!r}; expected beam, greedy or sample")


@torch.no_grad()
def greedy_search(
    decoder: Decoder, memory: Memory, config: SearchConfig, sample: bool = False, keep_attention: bool = False
) -> list[list[Hypothesis]]:
    """Most likely (or, with `sample`, a sampled) next token at every step, whole batch at once."""
    memory = decoder.prepare(memory)
    state = decoder.init_state(memory)
    min_len, max_len = length_limits(memory, config)  # (B,)
    batch = memory.states.size(0)
    tokens = torch.full((batch,), BOS_ID, dtype=torch.long, device=memory.states.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=tokens.device)
    scores = torch.zeros(batch, device=tokens.device)
    outputs, attentions = [], []
    for step in range(int(max_len.max()) + 1):
        logits, state, weights = decoder.step(tokens, state, memory)  # (B, V)
        log_probs = constrain(torch.log_softmax(logits.float(), dim=-1), step, min_len, max_len)
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


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """Wu et al. (2016): ((5 + |Y|) / 6) ** alpha."""
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(
    decoder: Decoder, memory: Memory, config: SearchConfig, keep_attention: bool = False
) -> list[list[Hypothesis]]:
    """Batched beam search; returns up to `n_best` hypotheses per input, best first.

    A sentence finishes once `beam_size` hypotheses have ended with `</s>` (or at its max length);
    it then leaves the batch. Scores are length-normalised log-probabilities. The memory keeps one
    row per sentence: its K hypotheses are K consecutive decoder rows that attend over that row.
    """
    beam = config.beam_size
    memory = decoder.prepare(memory)  # (n, S, ...) for the n active sentences
    min_len, max_len = length_limits(memory, config)  # (B,)
    batch, device = memory.states.size(0), memory.states.device
    state = decoder.init_state(memory).select(torch.arange(batch, device=device).repeat_interleave(beam))  # n*K rows
    row_min, row_max = min_len.repeat_interleave(beam), max_len.repeat_interleave(beam)  # (n*K,)
    sentence_max = max_len.tolist()
    sentence_ids = list(range(batch))  # original index of each active sentence
    scores = torch.full((batch, beam), float("-inf"), device=device)
    scores[:, 0] = 0.0  # (n, K): only one live beam at the start, so no duplicates
    history = torch.empty(batch, beam, 0, dtype=torch.long, device=device)  # (n, K, t)
    attention_history: Tensor | None = None  # (n, K, t, S)
    tokens = torch.full((batch * beam,), BOS_ID, dtype=torch.long, device=device)
    beam_offsets = torch.arange(beam, device=device)  # (K,)
    spare: Memory | None = None  # a previous compaction's storage, reused by the next one
    memory_is_ours = False  # the first memory holds the caller's tensors: never written to
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]

    for step in range(max(sentence_max) + 1):
        active = len(sentence_ids)
        logits, state, weights = decoder.step(tokens, state, memory)  # (n*K, V)
        log_probs = constrain(torch.log_softmax(logits.float(), dim=-1), step, row_min, row_max)
        vocab = log_probs.size(1)
        candidates = log_probs.add_(scores.view(-1, 1)).view(active, beam * vocab)  # (n, K*V) hypothesis scores
        top_scores, top_index = candidates.topk(min(2 * beam, beam * vocab), dim=1)  # (n, 2K)
        origin, token = top_index // vocab, top_index % vocab  # (n, 2K) beam of origin, new token

        if keep_attention and weights is not None:
            step_attention = weights.view(active, beam, 1, -1)  # (n, K, 1, S)
            attention_history = (
                step_attention if attention_history is None else torch.cat([attention_history, step_attention], 2)
            )

        # Hypotheses that end here: `</s>` among the K best candidates.
        ends = (token[:, :beam] == EOS_ID) & torch.isfinite(top_scores[:, :beam])  # (n, K)
        rows, ranks = ends.nonzero(as_tuple=True)  # in score order within each sentence
        if rows.numel():
            beams = origin[rows, ranks]
            ended = zip(rows.tolist(), history[rows, beams].tolist(), top_scores[rows, ranks].tolist())
            penalty = gnmt_length_penalty(step + 1, config.length_penalty)
            for position, (i, tokens_so_far, score) in enumerate(ended):
                sid = sentence_ids[i]
                if len(finished[sid]) < beam:
                    hyp_attention = None if attention_history is None else attention_history[i, beams[position], :-1].cpu()
                    finished[sid].append(Hypothesis(tokens_so_far, score / penalty, hyp_attention))  # attention (t, S)

        # Beams that go on: the K best candidates that do not end (stable order keeps score order).
        go_on = torch.argsort((token == EOS_ID).int(), dim=1, stable=True)[:, :beam]  # (n, K)
        scores = top_scores.gather(1, go_on)
        origin, token = origin.gather(1, go_on), token.gather(1, go_on)  # (n, K)
        beam_rows = (torch.arange(active, device=device).unsqueeze(1) * beam + origin).view(-1)  # (n*K,)
        history = torch.cat([history.view(active * beam, -1)[beam_rows].view(active, beam, -1), token.unsqueeze(2)], 2)
        if attention_history is not None:
            attention_history = attention_history.view(active * beam, *attention_history.shape[2:])[beam_rows]
            attention_history = attention_history.view(active, beam, *attention_history.shape[1:])

        done = [len(finished[sid]) >= beam or step >= sentence_max[sid] for sid in sentence_ids]
        if all(done):
            break
        if any(done):  # finished sentences leave the batch
            kept = [i for i, sentence_done in enumerate(done) if not sentence_done]
            keep = torch.tensor(kept, device=device)  # (n',)
            kept_rows = (keep.unsqueeze(1) * beam + beam_offsets).view(-1)  # (n'*K,)
            compacted = memory.select(keep, out=spare)  # (n', S, ...)
            spare = memory if memory_is_ours else None
            memory, memory_is_ours = compacted, True
            beam_rows = beam_rows[kept_rows]
            row_min, row_max = row_min[kept_rows], row_max[kept_rows]
            sentence_ids = [sentence_ids[i] for i in kept]
            scores, history, token = scores[keep], history[keep], token[keep]
            if attention_history is not None:
                attention_history = attention_history[keep]
        state = state.select(beam_rows)
        tokens = token.reshape(-1)  # (n*K,)

    return [sorted(hyps, key=lambda h: -h.score)[: config.n_best] for hyps in finished]
