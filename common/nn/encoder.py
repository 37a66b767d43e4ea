"""RecurrentEncoder: a (bidirectional) LSTM/GRU/RNN over packed token sequences -> Memory, for every task that
reads a token sequence (a source sentence, a word's letters, a sentence to label)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from captra.common.nn.embedding import TokenEmbedding
from captra.common.nn.memory import Memory, padding_mask
from captra.common.nn.precision import fused_rnn_precision

_RNNS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@dataclass
class EncoderConfig:
    """Hyper-parameters of the source encoder.

    Attributes:
        cell: recurrent cell: lstm, gru or rnn (tanh).
        embedding_size: width of the source word embeddings.
        hidden_size: hidden units per direction; the memory is hidden_size x directions wide.
        num_layers: stacked recurrent layers.
        bidirectional: read the source in both directions (Bahdanau et al.).
        dropout: on the embeddings and between layers.
        reverse_source: feed the source backwards (Sutskever et al. 2014; for unidirectional encoders).
    """

    cell: Literal["lstm", "gru", "rnn"] = "lstm"
    embedding_size: int = 256
    hidden_size: int = 512
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.3
    reverse_source: bool = False


def reverse_padded(ids: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each row's first `length` tokens, leaving padding in place. ids (B, S)."""
    positions = torch.arange(ids.size(1), device=ids.device).unsqueeze(0)  # (1, S)
    reversed_positions = (lengths.unsqueeze(1) - 1 - positions).clamp(min=0)  # (B, S)
    index = torch.where(positions < lengths.unsqueeze(1), reversed_positions, positions)
    return ids.gather(1, index)


class RecurrentEncoder(nn.Module):
    """(B, S) source ids -> Memory(states (B, S, D), mask, summary (B, D)), D = hidden * directions."""

    def __init__(self, config: EncoderConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.embedding = TokenEmbedding(vocab_size, config.embedding_size, config.dropout)
        self.rnn = _RNNS[config.cell](
            config.embedding_size,
            config.hidden_size,
            num_layers=config.num_layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output_size = config.hidden_size * (2 if config.bidirectional else 1)

    def forward(self, src: Tensor, lengths: Tensor) -> Memory:
        if self.config.reverse_source:
            src = reverse_padded(src, lengths)
        embedded = self.embedding(src)  # (B, S, E)
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        with fused_rnn_precision(embedded):
            outputs, final = self.rnn(packed)
        states, _ = pad_packed_sequence(outputs, batch_first=True, total_length=src.size(1))  # (B, S, D)
        final_hidden = final[0] if isinstance(final, tuple) else final  # (layers * dirs, B, H)
        directions = 2 if self.config.bidirectional else 1
        top_layer = final_hidden[-directions:]  # (dirs, B, H): last forward (and backward) states
        summary = torch.cat(list(top_layer), dim=1)  # (B, D)
        return Memory(states=self.dropout(states), mask=padding_mask(lengths, src.size(1)), summary=summary)
