"""AttentionDecoder: an LSTM/GRU/RNN cell stack whose input is [previous word; attention context].

One decoding step (Bahdanau et al. 2015; Xu et al. 2015):
    context_t, alpha_t = attend(h_{t-1}, memory)         (optionally gated: beta_t * context_t)
    h_t = cell([E y_{t-1}; context_t], h_{t-1})
    logits_t = W_o tanh(W_d [h_t; context_t; E y_{t-1}])  ("deep output")
With attention 'none' the context is empty: Show and Tell / Sutskever seq2seq, where the memory
summary only initialises the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from captra.common.nn.attention import AttentionKind, build_attention
from captra.common.nn.embedding import TokenEmbedding
from captra.common.nn.memory import Memory
from captra.common.nn.precision import fused_rnn_precision

CellKind = Literal["lstm", "gru", "rnn"]
_CELLS = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn": nn.RNNCell}


@dataclass
class DecoderConfig:
    """Hyper-parameters of the attention decoder.

    Attributes:
        cell: recurrent cell: lstm, gru or rnn (tanh).
        embedding_size: width of the target word embeddings.
        hidden_size: hidden units of each layer.
        num_layers: stacked recurrent layers.
        attention: additive (Bahdanau), dot or general (Luong), or none (Show and Tell / seq2seq baseline).
        attention_size: width of additive attention's hidden layer (additive only).
        output_size: width of the deep-output layer; must equal embedding_size to tie embeddings.
        dropout: on the embeddings, between layers and before the output layer.
        tie_embeddings: share the target embedding matrix with the output layer.
        context_gate: Xu et al.'s gating scalar beta_t = sigmoid(w . h_{t-1}) on the attention context.
        start_state: learned: h_0 (and c_0) = tanh(W summary + b), from the memory's summary (a decoder without a
            source, whose summary is zeros, learns one start state); zero: h_0 = c_0 = 0 (char-rnn's start).
    """

    cell: CellKind = "lstm"
    embedding_size: int = 256
    hidden_size: int = 512
    num_layers: int = 1
    attention: AttentionKind = "additive"
    attention_size: int = 512
    output_size: int = 512
    dropout: float = 0.3
    tie_embeddings: bool = False
    context_gate: bool = False
    start_state: Literal["learned", "zero"] = "learned"


@dataclass
class DecoderState:
    """Recurrent state, batch first so beams can be reordered with one index_select.

    hidden: (B, L, H); cell: (B, L, H) for LSTMs, None otherwise.
    """

    hidden: Tensor
    cell: Tensor | None = None

    def select(self, index: Tensor) -> "DecoderState":
        return DecoderState(
            self.hidden.index_select(0, index),
            None if self.cell is None else self.cell.index_select(0, index),
        )

    def detach(self) -> "DecoderState":
        """The same values, cut from the graph that computed them (truncated backpropagation through time)."""
        return DecoderState(self.hidden.detach(), None if self.cell is None else self.cell.detach())


class AttentionDecoder(nn.Module):
    """Writes a sentence while attending over a Memory. Teacher forcing: `forward`; search: `step`."""

    def __init__(self, config: DecoderConfig, vocab_size: int, memory_size: int, summary_size: int) -> None:
        super().__init__()
        self.config = config
        hidden = config.hidden_size
        self.embedding = TokenEmbedding(vocab_size, config.embedding_size, config.dropout)
        self.attention = build_attention(config.attention, hidden, memory_size, config.attention_size)
        self.context_size = 0 if self.attention is None else memory_size
        self.memory_size, self.summary_size = memory_size, summary_size  # what an encoder must hand it (D, D')
        self.gate = nn.Linear(hidden, 1) if config.context_gate and self.attention is not None else None
        cell_class = _CELLS[config.cell]
        self.cells = nn.ModuleList(
            cell_class(config.embedding_size + self.context_size if layer == 0 else hidden, hidden)
            for layer in range(config.num_layers)
        )
        self.dropout = nn.Dropout(config.dropout)
        learned = config.start_state == "learned"  # a zero start state has no layers (DDP would find them unused)
        self.init_hidden = nn.Linear(summary_size, config.num_layers * hidden) if learned else None
        self.init_cell = nn.Linear(summary_size, config.num_layers * hidden) if learned and config.cell == "lstm" else None
        feature_size = hidden + self.context_size + config.embedding_size
        self.deep_output = nn.Linear(feature_size, config.output_size)
        self.output = nn.Linear(config.output_size, vocab_size)
        if config.tie_embeddings:
            if config.output_size != config.embedding_size:
                raise ValueError(
                    f"tie_embeddings needs output_size ({config.output_size}) == embedding_size "
                    f"({config.embedding_size})"
                )
            self.output.weight = self.embedding.weight

    def prepare(self, memory: Memory) -> Memory:
        """Project the attention keys once per batch."""
        if self.attention is None:
            return memory
        if memory.states.size(1) == 0:
            raise ValueError(f"{self.config.attention} attention over an empty memory: a decoder without a source "
                             "needs attention none")
        return memory.with_keys(self.attention.project_keys(memory.states))  # keys (B, S, A)

    def init_state(self, memory: Memory) -> DecoderState:
        """h_0 (and c_0) = tanh(W summary), one vector per layer; zeros with start_state `zero`."""
        batch, layers, hidden = memory.summary.size(0), self.config.num_layers, self.config.hidden_size
        if self.init_hidden is None:  # start_state zero
            zeros = memory.summary.new_zeros(batch, layers, hidden)
            return DecoderState(zeros, zeros.clone() if self.config.cell == "lstm" else None)
        h0 = torch.tanh(self.init_hidden(memory.summary)).view(batch, layers, hidden)
        c0 = None if self.init_cell is None else torch.tanh(self.init_cell(memory.summary)).view(batch, layers, hidden)
        return DecoderState(h0, c0)

    def _advance(
        self, embedded: Tensor, state: DecoderState, memory: Memory
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One recurrent step. embedded (B*K, E) -> features (B*K, F), new state, weights (B*K, S) or None.

        The state has B*K rows, K per memory row (the hypotheses of a beam; K = 1 in training).
        """
        query = state.hidden[:, -1]  # (B*K, H): top layer h_{t-1}
        if self.attention is None:
            context, weights = embedded.new_zeros(embedded.size(0), 0), None
        else:
            context, weights = self.attention(query, memory.keys, memory.states, memory.mask)  # (B*K, D), (B*K, S)
            if self.gate is not None:
                context = torch.sigmoid(self.gate(query)) * context  # (B*K, D)
        layer_input = torch.cat([embedded, context], dim=1)  # (B*K, E + D)
        hiddens, cells = [], []
        for layer, cell in enumerate(self.cells):
            if state.cell is None:
                h = cell(layer_input, state.hidden[:, layer])  # (B, H)
            else:
                h, c = cell(layer_input, (state.hidden[:, layer], state.cell[:, layer]))
                cells.append(c)
            hiddens.append(h)
            layer_input = self.dropout(h)
        new_state = DecoderState(torch.stack(hiddens, 1), torch.stack(cells, 1) if cells else None)
        features = torch.cat([hiddens[-1], context, embedded], dim=1)  # (B*K, H + D + E)
        return features, new_state, weights

    def readout(self, features: Tensor) -> Tensor:
        """(..., F) -> (..., V) logits through the deep-output layer."""
        return self.output(self.dropout(torch.tanh(self.deep_output(features))))

    def forward(self, memory: Memory, inputs: Tensor) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing. inputs (B, T) = `<s> y_1 .. y_{T-1}` -> logits (B, T, V), weights (B, T, S)."""
        logits, weights, _ = self.unroll(memory, inputs)
        return logits, weights

    def unroll(self, memory: Memory, inputs: Tensor, state: DecoderState | None = None
               ) -> tuple[Tensor, Tensor | None, DecoderState]:
        """Teacher forcing from `state` (None: the memory's start state) -> logits (B, T, V), weights (B, T, S) and
        the state after the last input, which a language model carries into its next window (truncated BPTT).

        The loop only runs the recurrence; the output layer is applied to all steps in one matmul.
        Without attention the inputs are all known in advance, so one fused RNN call runs the recurrence.
        """
        memory = self.prepare(memory)
        state = self.init_state(memory) if state is None else state
        embedded = self.embedding(inputs)  # (B, T, E)
        if self.attention is None and self._cells_expose_weights:
            hidden, state = self._fused_recurrence(embedded, state)
            return self.readout(torch.cat([hidden, embedded], dim=2)), None, state
        features, weights = [], []
        for t in range(inputs.size(1)):
            step_features, state, step_weights = self._advance(embedded[:, t], state, memory)
            features.append(step_features)
            weights.append(step_weights)
        logits = self.readout(torch.stack(features, dim=1))  # (B, T, V)
        if self.attention is None:  # int8 cells, run step by step
            return logits, None, state
        return logits, torch.stack(weights, dim=1), state  # (B, T, V), (B, T, S)

    @property
    def _cells_expose_weights(self) -> bool:
        """Whether the cells hold float weights the fused kernel can take (int8-quantised cells do not: they run
        step by step)."""
        return all(hasattr(cell, "weight_ih") for cell in self.cells)

    def _fused_recurrence(self, embedded: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """embedded (B, T, E) -> top-layer hidden states (B, T, H) and the final state, in one call of torch's RNN
        kernel.

        Used without attention (Show and Tell, Sutskever seq2seq, language models): the cells' own weights go to
        the kernel nn.LSTM/GRU/RNN use (cuDNN on a GPU, oneDNN on the CPU), with the same gate layout and the
        same dropout between layers as the step loop.
        """
        weights = [w for cell in self.cells for w in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
        hidden = state.hidden.transpose(0, 1).to(embedded.dtype).contiguous()  # (L, B, H)
        options = (weights, True, len(self.cells), self.dropout.p, self.training, False, True)
        with fused_rnn_precision(embedded):
            if self.config.cell == "lstm":
                cell = state.cell.transpose(0, 1).to(embedded.dtype).contiguous()  # (L, B, H)
                outputs, last_hidden, last_cell = torch.lstm(embedded, (hidden, cell), *options)
                return outputs, DecoderState(last_hidden.transpose(0, 1), last_cell.transpose(0, 1))  # (B, L, H)
            if self.config.cell == "gru":
                outputs, last_hidden = torch.gru(embedded, hidden, *options)
            else:
                outputs, last_hidden = torch.rnn_tanh(embedded, hidden, *options)
        return outputs, DecoderState(last_hidden.transpose(0, 1))  # (B, T, H), hidden (B, L, H)

    def step(
        self, tokens: Tensor, state: DecoderState, memory: Memory
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """Search step on a prepared memory (B rows). tokens (B*K,) -> logits (B*K, V), new state, weights (B*K, S).

        K consecutive tokens and state rows share one memory row (a beam's hypotheses).
        """
        features, state, weights = self._advance(self.embedding(tokens), state, memory)
        return self.readout(features), state, weights
