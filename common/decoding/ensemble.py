"""Ensembles: several checkpoints of one task and vocabularies decoding as one model.

`EnsembleDecoder` follows the decoder contract of common/decoding/settings.py (`prepare / init_state / step`), so greedy,
sampling and beam search, and both tasks, decode ensembles with the code that decodes single models. Each model
keeps its own memory (`EnsembleMemory`) and recurrent state (`EnsembleState`); at every step the models'
log-probabilities are averaged (the search renormalises them: the ensemble's distribution is the normalised
geometric mean of the models'), and beams stay batched as for one model. Attention weights are the models' mean.
`Ensemble` wraps the modules for the inference commands: encode with each, search with the ensemble decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from captra.common.checkpoints.file import require_same_task_and_vocabularies
from captra.common.decoding.settings import Hypothesis, RecurrentState, SearchConfig
from captra.common.nn.memory import Memory
from captra.common.decoding.search import search


@dataclass
class EnsembleMemory:
    """One memory per model for the same inputs; sizes, lengths and mask are the first's (the inputs are shared)."""

    memories: list[Memory]

    @property
    def states(self) -> Tensor:
        return self.memories[0].states

    @property
    def mask(self) -> Tensor:
        return self.memories[0].mask

    @property
    def lengths(self) -> Tensor:
        return self.memories[0].lengths

    def select(self, index: Tensor, out: "EnsembleMemory | None" = None) -> "EnsembleMemory":
        outs = [None] * len(self.memories) if out is None else out.memories
        return EnsembleMemory([memory.select(index, spare) for memory, spare in zip(self.memories, outs)])


@dataclass
class EnsembleState:
    """One recurrent state per model, rows aligned."""

    states: list[RecurrentState]

    def select(self, index: Tensor) -> "EnsembleState":
        return EnsembleState([state.select(index) for state in self.states])


def mean_of_members(outputs: list[tuple[Tensor, Tensor | None]]) -> tuple[Tensor, Tensor | None]:
    """The members' (logits (..., V), attention (..., S) or None) -> mean log-softmax (..., V) and mean attention,
    or None unless every member attends."""
    log_probs = torch.stack([torch.log_softmax(logits.float(), dim=-1) for logits, _ in outputs]).mean(0)
    weights = [attention for _, attention in outputs if attention is not None]
    return log_probs, torch.stack(weights).mean(0) if len(weights) == len(outputs) else None


class EnsembleDecoder(nn.Module):
    """Decoders of several models stepping together; `step` returns their mean log-probabilities."""

    def __init__(self, decoders: list[nn.Module]) -> None:
        super().__init__()
        self.decoders = nn.ModuleList(decoders)

    @property
    def attention(self) -> nn.Module | None:
        """The first decoder's attention where every member attends (attention maps show the members' mean)."""
        attentions = [decoder.attention for decoder in self.decoders]
        return None if any(a is None for a in attentions) else attentions[0]

    def prepare(self, memory: EnsembleMemory) -> EnsembleMemory:
        return EnsembleMemory([decoder.prepare(m) for decoder, m in zip(self.decoders, memory.memories)])

    def init_state(self, memory: EnsembleMemory) -> EnsembleState:
        return EnsembleState([decoder.init_state(m) for decoder, m in zip(self.decoders, memory.memories)])

    def forward(self, memory: EnsembleMemory, inputs: Tensor) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing. inputs (B, T) -> mean log-probabilities (B, T, V), mean attention (B, T, S) or None."""
        return mean_of_members([decoder(m, inputs) for decoder, m in zip(self.decoders, memory.memories)])

    def step(self, tokens: Tensor, state: EnsembleState, memory: EnsembleMemory) -> tuple[Tensor, EnsembleState, Tensor | None]:
        """tokens (B*K,) -> mean log-probabilities (B*K, V), the models' new states, mean attention (B*K, S) or None."""
        steps = [decoder.step(tokens, model_state, model_memory)
                 for decoder, model_state, model_memory in zip(self.decoders, state.states, memory.memories)]
        log_probs, mean_attention = mean_of_members([(logits, attention) for logits, _, attention in steps])
        return log_probs, EnsembleState([new_state for _, new_state, _ in steps]), mean_attention


class Ensemble(nn.Module):
    """Several trained modules of one task and vocabularies, decoding as one (for the inference commands).

    Text, search settings and everything else a command reads come from the first module.
    """

    def __init__(self, modules: list[nn.Module], names: list[str]) -> None:
        super().__init__()
        first = modules[0]
        for module, name in zip(modules[1:], names[1:]):
            require_same_task_and_vocabularies(name, module.task, module.text_states, names[0], first.task,
                                               first.text_states, "an ensemble needs checkpoints of one task and vocabularies")
        self.members = nn.ModuleList(modules)
        self.decoder = EnsembleDecoder([module.decoder for module in modules])

    @property
    def first(self) -> nn.Module:
        return self.members[0]

    @property
    def task(self) -> str:
        return self.first.task

    @property
    def texts(self) -> dict[str, Any]:
        return self.first.texts

    @property
    def search_config(self) -> SearchConfig:
        return self.first.search_config

    @property
    def encoder(self) -> nn.Module:
        """The first member's encoder: what commands read the input specification from."""
        return self.first.encoder

    def to_text(self, hypothesis: Hypothesis) -> str:
        return self.first.to_text(hypothesis)

    def score(self, hypotheses: list[str], references: list[list[str]]) -> dict[str, float | str]:
        """The task's corpus metrics (the first member's `score`)."""
        return self.first.score(hypotheses, references)

    def encode(self, batch: dict[str, Any]) -> EnsembleMemory:
        """Every member's memory of the batch."""
        return EnsembleMemory([module.encode(batch) for module in self.members])

    @torch.no_grad()
    def decode(self, batch: dict[str, Any], config: SearchConfig | None = None, keep_attention: bool = False,
               prefix: Tensor | None = None) -> list[list[Hypothesis]]:
        """Search on a batch with every member's memory; one n-best list per example (see Seq2SeqModule.decode)."""
        config = config or self.first.search_config
        return search(self.decoder, self.encode(batch), config, keep_attention, self.first.token_rules(config), prefix)
