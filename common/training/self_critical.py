"""Self-critical sequence training (Rennie et al. 2017): REINFORCE on a sentence-level reward, with a baseline.

For each input, K outputs are sampled with the shared search's sampling strategy (batched, no gradients); each
is scored by the task's reward (captioning: CIDEr-D against the training references; translation: sentence
BLEU); one teacher-forced pass over the samples gives their log-probabilities with gradients, and the loss is

    - sum_i (r_i - b_i) * sum_t log p(y_i,t | y_i,<t, x) / (tokens in the K*B samples)

with b_i the mean reward of the other K-1 samples of the same input (Luo 2020) or the reward of the input's
greedy output (Rennie et al. 2017). Dropout is off in both the sampling and the scored pass, so the gradient
is that of the policy the samples came from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Literal, Sequence

import torch
from torch import Tensor

from captra.common.data.batching import pad
from captra.common.decoding.settings import Decoder, SearchConfig, TokenRules
from captra.common.nn.memory import Memory
from captra.common.decoding.search import greedy_search
from captra.common.text.vocab import BOS_ID, EOS_ID, PAD_ID

# (outputs as token ids without </s>, the references of each output's input) -> one reward per output
RewardFunction = Callable[[Sequence[Sequence[int]], Sequence[Sequence[str]]], Tensor]


@dataclass
class SelfCriticalConfig:
    """Self-critical sequence training (used with `objective: scst`).

    Attributes:
        samples: K outputs sampled per input, each scored by the reward; at least 2 with the mean_of_others baseline.
        baseline: mean_of_others: a sample's baseline is the mean reward of its input's other K-1 samples (Luo
            2020); greedy: the reward of the input's greedy output (Rennie et al. 2017), one more decoding per batch.
        temperature: of the sampling distribution.
    """

    samples: int = 5
    baseline: Literal["mean_of_others", "greedy"] = "mean_of_others"
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.samples < 1 or (self.baseline == "mean_of_others" and self.samples < 2):
            raise ValueError(f"self_critical.samples must be >= 2 with the mean_of_others baseline (>= 1 with greedy), "
                             f"got {self.samples}")


def leave_one_out_baseline(rewards: Tensor) -> Tensor:
    """rewards (B, K) -> (B, K): for each sample, the mean reward of the other K-1 samples of its input."""
    samples = rewards.size(1)
    return (rewards.sum(dim=1, keepdim=True) - rewards) / (samples - 1)


def policy_gradient_loss(token_log_probs: Tensor, mask: Tensor, advantage: Tensor) -> Tensor:
    """REINFORCE with a baseline, per token: -sum_i A_i sum_t log p_i,t / number of real tokens.

    token_log_probs, mask (N, T); advantage (N,), a constant (no gradient flows through the rewards).
    """
    weighted = token_log_probs * mask * advantage.detach().unsqueeze(1)  # (N, T)
    return -weighted.sum() / mask.sum().clamp(min=1)


@dataclass
class SelfCriticalStep:
    """One batch's loss and what is logged about it."""

    loss: Tensor
    reward: Tensor  # (B*K,)
    baseline: Tensor  # (B*K,)
    entropy: Tensor  # scalar: mean per-token entropy of the policy on the samples
    lengths: Tensor  # (B*K,) sampled tokens before </s>

    def statistics(self) -> dict[str, float]:
        advantage = self.reward - self.baseline
        return {
            "reward": float(self.reward.mean()),
            "baseline": float(self.baseline.mean()),
            "advantage": float(advantage.mean()),
            "advantage_abs": float(advantage.abs().mean()),
            "entropy": float(self.entropy),
            "sample_length": float(self.lengths.float().mean()),
        }


def _outputs(decoder: Decoder, memory: Memory, search: SearchConfig, rules: TokenRules | None, sample: bool) -> list[list[int]]:
    return [nbest[0].tokens for nbest in greedy_search(decoder, memory, search, sample=sample, rules=rules)]


def self_critical_step(
    decoder: torch.nn.Module,
    memory: Memory,
    references: Sequence[Sequence[str]],
    reward: RewardFunction,
    config: SelfCriticalConfig,
    search: SearchConfig,
    rules: TokenRules | None = None,
) -> SelfCriticalStep:
    """The SCST loss of a batch: memory (B, S, D) with one list of references per input."""
    batch, samples = memory.states.size(0), config.samples
    device = memory.states.device
    repeated = torch.arange(batch, device=device).repeat_interleave(samples)  # (B*K,)
    expanded = memory.select(repeated)  # (B*K, S, D), differentiable if the encoder is trained
    sampling = replace(search, strategy="sample", temperature=config.temperature)
    sample_references = [references[row] for row in repeated.tolist()]
    was_training = decoder.training
    decoder.eval()
    try:
        with torch.no_grad():
            outputs = _outputs(decoder, expanded, sampling, rules, sample=True)  # B*K lists of ids
            rewards = reward(outputs, sample_references).to(device)  # (B*K,)
            if config.baseline == "greedy":
                greedy = _outputs(decoder, memory, replace(search, strategy="greedy"), rules, sample=False)
                baseline = reward(greedy, references).to(device).repeat_interleave(samples)  # (B*K,)
            else:
                baseline = leave_one_out_baseline(rewards.view(batch, samples)).view(-1)
        inputs = pad([[BOS_ID, *tokens] for tokens in outputs]).to(device)  # (B*K, T)
        targets = pad([[*tokens, EOS_ID] for tokens in outputs]).to(device)  # (B*K, T)
        logits, _ = decoder(expanded, inputs)  # (B*K, T, V)
    finally:
        decoder.train(was_training)
    log_probs = torch.log_softmax(logits.float(), dim=-1)  # (B*K, T, V)
    mask = (targets != PAD_ID).float()  # (B*K, T)
    token_log_probs = log_probs.gather(2, targets.unsqueeze(2)).squeeze(2)  # (B*K, T)
    with torch.no_grad():
        entropy = -(log_probs.exp() * log_probs).sum(dim=2)  # (B*K, T)
        mean_entropy = (entropy * mask).sum() / mask.sum().clamp(min=1)
    loss = policy_gradient_loss(token_log_probs, mask, rewards - baseline)
    lengths = torch.tensor([len(tokens) for tokens in outputs], device=device)
    return SelfCriticalStep(loss, rewards, baseline, mean_entropy, lengths)
