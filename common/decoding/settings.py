"""What every search strategy shares: its settings, the decoder contract, hypotheses and length limits.

Decoding is written once against any decoder with `prepare / init_state / step` whose state has `select`.
Lengths are bounded per sentence relative to the memory length: max = a * S + b (capped). A prefix (a prompt)
per input can be forced: its tokens are the output's first ones, scored as the model scores them, and the
search continues after them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

import torch
from torch import Tensor

from captra.common.nn.memory import Memory
from captra.common.text.vocab import BOS_ID, EOS_ID, PAD_ID


@dataclass
class SearchConfig:
    """How to decode (validation, test, predict and the inference commands).

    Attributes:
        strategy: beam (batched beam search), greedy, or sample (with temperature).
        beam_size: hypotheses kept per input in beam search.
        n_best: hypotheses returned per input (beam search).
        length_penalty: GNMT alpha: score / ((5 + length) / 6) ** alpha; 0 turns it off.
        temperature: divides the log-probabilities before sampling (sample only).
        max_len_a: at most max_len_a * memory length + max_len_b output tokens ...
        max_len_b: ... (see max_len_a) ...
        max_length: ... and never more than this.
        min_len_a: at least min_len_a * memory length + min_len_b output tokens before `</s>` ...
        min_len_b: ... (see min_len_a).
        bad_endings: words a sentence may not end with (`</s>` is forbidden right after them), e.g. the function
            words that self-critical training leaves at the end of captions ("a dog runs in the").
        allow_unk: whether `<unk>` may be generated (false for captions, where an `<unk>` word is never right).
    """

    strategy: Literal["beam", "greedy", "sample"] = "beam"
    beam_size: int = 5
    n_best: int = 1
    length_penalty: float = 1.0
    temperature: float = 1.0
    max_len_a: float = 1.5
    max_len_b: int = 10
    max_length: int = 200
    min_len_a: float = 0.0
    min_len_b: int = 1
    bad_endings: tuple[str, ...] = ()
    allow_unk: bool = True


@dataclass(frozen=True)
class TokenRules:
    """Token constraints of a search, as vocabulary ids (a module resolves them from its SearchConfig).

    no_end_after: (M,) ids after which `</s>` may not follow.
    never: (N,) ids never generated (e.g. `<unk>`).
    """

    no_end_after: Tensor | None = None
    never: Tensor | None = None


@dataclass
class Hypothesis:
    """One output: token ids without `</s>`, its score, and (optionally) attention (T, S) per token."""

    tokens: list[int]
    score: float
    attention: Tensor | None = None


State = TypeVar("State", bound="RecurrentState")


class RecurrentState(Protocol):
    """A decoder's recurrent state for N rows (batch first)."""

    def select(self: State, index: Tensor) -> State:
        """Rows `index` (N',) of the state, e.g. the hypotheses a beam goes on with."""
        ...


class Decoder(Protocol):
    """What search needs of a decoder."""

    def prepare(self, memory: Memory) -> Memory:
        """Per-batch work on the memory (e.g. attention keys), once before the steps."""
        ...

    def init_state(self, memory: Memory) -> RecurrentState:
        """The state before the first token, one row per memory row."""
        ...

    def step(self, tokens: Tensor, state: RecurrentState, memory: Memory) -> tuple[Tensor, RecurrentState, Tensor | None]:
        """tokens (B*K,) -> logits (B*K, V), new state, attention weights (B*K, S) or None; K consecutive
        rows share one memory row."""
        ...


def length_limits(memory: Memory, config: SearchConfig) -> tuple[Tensor, Tensor]:
    """(B,) min and max numbers of tokens before `</s>` for each memory."""
    lengths = memory.lengths.float()  # (B,)
    max_len = (config.max_len_a * lengths + config.max_len_b).long().clamp(1, config.max_length)
    min_len = (config.min_len_a * lengths + config.min_len_b).long().clamp(min=0)
    return torch.minimum(min_len, max_len), max_len


def check_prefix(prefix: Tensor, batch: int) -> None:
    """A prefix is (B, P) token ids per input, `<pad>` after a row's own prefix; no `<s>`, `</s>` or `<pad>` inside."""
    if prefix.dim() != 2 or prefix.size(0) != batch:
        raise ValueError(f"a prefix is (batch, length) token ids; got shape {tuple(prefix.shape)} for a batch of {batch}")
    if bool((prefix < 0).any()):
        raise ValueError("a prefix holds token ids: none is negative")
    if bool((prefix == BOS_ID).any() | (prefix == EOS_ID).any()):
        raise ValueError("a prefix holds the output's first tokens: without <s> and </s>")
    padding = prefix == PAD_ID
    if bool((padding[:, :-1] & ~padding[:, 1:]).any()):
        raise ValueError("a prefix row is padded at its end only")


def forced_tokens(prefix: Tensor | None, step: int) -> Tensor | None:
    """(N,) the prefix's token at `step` for each row (`<pad>` where its prefix is over), or None past every prefix."""
    if prefix is None or step >= prefix.size(1):
        return None
    return prefix[:, step]


def constrain(
    log_probs: Tensor, step: int, min_len: Tensor, max_len: Tensor, previous: Tensor | None = None,
    rules: TokenRules | None = None, forced: Tensor | None = None,
) -> Tensor:
    """Forbid `<pad>`, `<s>` and the `rules`' never-generated tokens, forbid `</s>` before min_len tokens or right
    after a bad ending (`rules`, given the previous tokens), force it once max_len tokens are written; rows with a
    `forced` token (a prefix's, not `<pad>`) may only continue with it, at the model's log-probability for it.

    log_probs (N, V), changed in place and returned; min_len, max_len, previous, forced (N,).
    """
    if forced is not None:
        forced_rows = (forced != PAD_ID).nonzero().squeeze(1)
        forced_ids = forced[forced_rows]
        if forced_ids.numel() and int(forced_ids.max()) >= log_probs.size(1):
            raise ValueError(f"a prefix token id ({int(forced_ids.max())}) is not in the vocabulary of {log_probs.size(1)}")
        forced_scores = log_probs[forced_rows, forced_ids]  # before any rule: the prefix is what it is
    log_probs[:, [PAD_ID, BOS_ID]] = float("-inf")  # never generated
    if rules is not None and rules.never is not None:
        log_probs[:, rules.never] = float("-inf")
    may_not_end = step < min_len  # (N,)
    if rules is not None and rules.no_end_after is not None and previous is not None:
        may_not_end |= torch.isin(previous, rules.no_end_after) & (step < max_len)  # at max_len it must end
    log_probs[:, EOS_ID].masked_fill_(may_not_end, float("-inf"))
    at_limit = (step >= max_len).nonzero().squeeze(1)  # rows that must end now
    if at_limit.numel():
        eos = log_probs[at_limit, EOS_ID]
        log_probs[at_limit] = float("-inf")
        log_probs[at_limit, EOS_ID] = eos
    if forced is not None and forced_rows.numel():
        log_probs[forced_rows] = float("-inf")
        log_probs[forced_rows, forced_ids] = forced_scores
    return log_probs
