"""Batched beam search: all sentences of a batch decode as one (sentences x beam) batch.

Each step: score every continuation of every live hypothesis, keep the 2K best per sentence, set aside those
that end with `</s>`, go on with the K best that do not, and let sentences with K finished hypotheses (or at
their length limit) leave the batch. The memory keeps one row per sentence: a sentence's K hypotheses are K
consecutive decoder rows that attend over that row. A sentence gets the same hypotheses alone or inside a
batch of any other sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from captra.common.nn.memory import Memory
from captra.common.decoding.settings import (Decoder, Hypothesis, SearchConfig, TokenRules, check_prefix, constrain,
                                             forced_tokens, length_limits)
from captra.common.text.vocab import BOS_ID, EOS_ID, PAD_ID


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """Wu et al. (2016): ((5 + |Y|) / 6) ** alpha."""
    return ((5.0 + length) / 6.0) ** alpha


@dataclass
class Candidates:
    """The 2K best continuations of each active sentence's hypotheses, best first.

    scores (n, 2K) cumulative log-probabilities; origin (n, 2K) the hypothesis each extends; token (n, 2K).
    """

    scores: Tensor
    origin: Tensor
    token: Tensor

    @classmethod
    def best(cls, log_probs: Tensor, beam_scores: Tensor) -> "Candidates":
        """log_probs (n*K, V) of the next token, beam_scores (n, K) -> the 2K best of the n x K x V."""
        active, beam = beam_scores.shape
        vocab = log_probs.size(1)
        totals = log_probs.add_(beam_scores.view(-1, 1)).view(active, beam * vocab)  # (n, K*V)
        scores, index = totals.topk(min(2 * beam, beam * vocab), dim=1)  # (n, 2K)
        return cls(scores, index // vocab, index % vocab)


@dataclass
class BeamState:
    """The K live hypotheses of each of the n active sentences (decoder row i*K + k is sentence i's k-th).

    sentence_ids: original batch index of each active sentence
    scores:       (n, K) cumulative log-probabilities
    history:      (n, K, t) tokens so far; the last column is the next step's input
    attention:    (n, K, t, S) attention weights so far, or None when not kept
    min_len, max_len: (n*K,) length limits of each row
    prefix:       (n*K, P) the tokens each row must write first (`<pad>` after its own), or None
    """

    sentence_ids: list[int]
    scores: Tensor
    history: Tensor
    attention: Tensor | None
    min_len: Tensor
    max_len: Tensor
    prefix: Tensor | None = None

    @classmethod
    def start(cls, memory: Memory, config: SearchConfig, prefix: Tensor | None = None) -> "BeamState":
        """One live hypothesis (`<s>`) per sentence; the other K-1 start at -inf so no duplicates arise (and stay
        at -inf while a prefix is forced: the beam opens where the prefix ends)."""
        beam, batch, device = config.beam_size, memory.states.size(0), memory.states.device
        min_len, max_len = length_limits(memory, config)  # (B,)
        if prefix is not None:
            check_prefix(prefix, batch)
            prefix = prefix.to(device)
            max_len = torch.maximum(max_len, (prefix != PAD_ID).sum(1))  # the prefix is written whole
        scores = torch.full((batch, beam), float("-inf"), device=device)
        scores[:, 0] = 0.0
        history = torch.full((batch, beam, 1), BOS_ID, dtype=torch.long, device=device)
        return cls(list(range(batch)), scores, history, None, min_len.repeat_interleave(beam),
                   max_len.repeat_interleave(beam), None if prefix is None else prefix.repeat_interleave(beam, 0))

    @property
    def beam(self) -> int:
        return self.scores.size(1)

    @property
    def tokens(self) -> Tensor:
        """(n*K,) each hypothesis's last token: the next decoder input."""
        return self.history[:, :, -1].reshape(-1)

    def record_attention(self, weights: Tensor) -> None:
        """Append this step's weights (n*K, S)."""
        step = weights.view(len(self.sentence_ids), self.beam, 1, -1)  # (n, K, 1, S)
        self.attention = step if self.attention is None else torch.cat([self.attention, step], 2)

    def finish(self, candidates: Candidates, step: int, config: SearchConfig, finished: list[list[Hypothesis]]) -> None:
        """Hypotheses whose continuation among the K best is `</s>` join their sentence's finished list."""
        beam = self.beam
        ends = (candidates.token[:, :beam] == EOS_ID) & torch.isfinite(candidates.scores[:, :beam])  # (n, K)
        rows, ranks = ends.nonzero(as_tuple=True)  # in score order within each sentence
        if not rows.numel():
            return
        origins = candidates.origin[rows, ranks]
        penalty = gnmt_length_penalty(step + 1, config.length_penalty)
        ended = zip(rows.tolist(), origins.tolist(), self.history[rows, origins, 1:].tolist(),
                    candidates.scores[rows, ranks].tolist())
        for row, origin, tokens, score in ended:
            hypotheses = finished[self.sentence_ids[row]]
            if len(hypotheses) < beam:
                attention = None if self.attention is None else self.attention[row, origin, :-1].cpu()  # (t, S)
                hypotheses.append(Hypothesis(tokens, score / penalty, attention))

    def advance(self, candidates: Candidates) -> Tensor:
        """Go on with the K best candidates that do not end; returns (n*K,) the row each new hypothesis extends."""
        active, beam = len(self.sentence_ids), self.beam
        go_on = torch.argsort((candidates.token == EOS_ID).int(), dim=1, stable=True)[:, :beam]  # (n, K), score order
        self.scores = candidates.scores.gather(1, go_on)
        origin, token = candidates.origin.gather(1, go_on), candidates.token.gather(1, go_on)  # (n, K)
        rows = (torch.arange(active, device=origin.device).unsqueeze(1) * beam + origin).view(-1)  # (n*K,)
        history = self.history.view(active * beam, -1)[rows].view(active, beam, -1)
        self.history = torch.cat([history, token.unsqueeze(2)], 2)  # (n, K, t+1)
        if self.attention is not None:
            self.attention = self.attention.view(active * beam, *self.attention.shape[2:])[rows].view_as(self.attention)
        return rows

    def select(self, keep: Tensor) -> "BeamState":
        """The sentences `keep` (n',) only, e.g. without those that are done."""
        rows = (keep.unsqueeze(1) * self.beam + torch.arange(self.beam, device=keep.device)).view(-1)  # (n'*K,)
        return BeamState([self.sentence_ids[i] for i in keep.tolist()], self.scores[keep], self.history[keep],
                         None if self.attention is None else self.attention[keep], self.min_len[rows], self.max_len[rows],
                         None if self.prefix is None else self.prefix[rows])


class CompactingMemory:
    """The memory of the active sentences. Dropping sentences writes the kept rows into the storage of an
    earlier compaction where there is one (a fresh caption-batch-sized allocation each time costs page
    faults); the caller's memory is never written."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self._spare: Memory | None = None
        self._owned = False  # the first memory holds the caller's tensors

    def select(self, keep: Tensor) -> None:
        compacted = self.memory.select(keep, out=self._spare)  # (n', S, ...)
        self._spare = self.memory if self._owned else None
        self.memory, self._owned = compacted, True


@torch.no_grad()
def beam_search(
    decoder: Decoder, memory: Memory, config: SearchConfig, keep_attention: bool = False, rules: TokenRules | None = None,
    prefix: Tensor | None = None,
) -> list[list[Hypothesis]]:
    """Up to `n_best` hypotheses per input, best first; scores are GNMT length-normalised log-probabilities. With
    `prefix` (B, P), each input's hypotheses start with its row's tokens (scored by the model, then searched on).

    A sentence finishes once `beam_size` hypotheses have ended with `</s>`, or at its max length.
    """
    beam = config.beam_size
    active = CompactingMemory(decoder.prepare(memory))  # (n, S, ...) for the n active sentences
    beams = BeamState.start(active.memory, config, prefix)
    batch = len(beams.sentence_ids)
    state = decoder.init_state(active.memory).select(torch.arange(batch, device=beams.scores.device).repeat_interleave(beam))
    sentence_max = beams.max_len[::beam].tolist()  # per original sentence
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]

    for step in range(max(sentence_max) + 1):
        logits, state, weights = decoder.step(beams.tokens, state, active.memory)  # (n*K, V)
        log_probs = constrain(torch.log_softmax(logits.float(), dim=-1), step, beams.min_len, beams.max_len,
                              beams.tokens, rules, forced_tokens(beams.prefix, step))
        candidates = Candidates.best(log_probs, beams.scores)
        if keep_attention and weights is not None:
            beams.record_attention(weights)
        beams.finish(candidates, step, config, finished)
        rows = beams.advance(candidates)

        done = [len(finished[sid]) >= beam or step >= sentence_max[sid] for sid in beams.sentence_ids]
        if all(done):
            break
        if any(done):  # finished sentences leave the batch
            keep = torch.tensor([i for i, sentence_done in enumerate(done) if not sentence_done], device=rows.device)
            rows = rows.view(-1, beam)[keep].view(-1)
            active.select(keep)
            beams = beams.select(keep)
        state = state.select(rows)

    return [sorted(hypotheses, key=lambda h: -h.score)[: config.n_best] for hypotheses in finished]
