"""Token embedding with dropout; its weight can be shared with the decoder's output layer."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from captra.common.text.vocab import PAD_ID


class TokenEmbedding(nn.Module):
    """(B, T) ids -> (B, T, E) vectors; `<pad>` embeds to zeros."""

    def __init__(self, vocab_size: int, embedding_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=PAD_ID)
        # N(0, 1/E) keeps logits small when the weight is shared with the output layer.
        nn.init.normal_(self.embedding.weight, std=embedding_size**-0.5)
        with torch.no_grad():
            self.embedding.weight[PAD_ID].zero_()
        self.dropout = nn.Dropout(dropout)

    @property
    def weight(self) -> nn.Parameter:
        return self.embedding.weight  # (V, E)

    def forward(self, ids: Tensor) -> Tensor:
        return self.dropout(self.embedding(ids))
