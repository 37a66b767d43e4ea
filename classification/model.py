"""ClassificationModule: a sentence (or symbol string) -> embedding -> recurrent encoder -> pooling -> classifier,
trained with cross-entropy; built on TaskModule alone (no decoder, memory for a decoder, or search)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from captra.common.nn.encoder import EncoderConfig, RecurrentEncoder
from captra.common.text.vocab import PAD_ID, UNK_ID
from captra.common.training.module import OptimizerConfig, TaskModule, as_config
from captra.classification.labels import label_names
from captra.classification.metrics import scores
from captra.classification.pooling import PoolingName, build_pooling


@dataclass
class ClassifierConfig:
    """What follows the encoder.

    Attributes:
        pooling: last | mean | max | attention (classification/pooling.py).
        attention_size: hidden units of the attention pooling's scoring MLP.
        hidden_size: one hidden tanh layer of this width before the output layer; 0: none (dropout + linear).
        dropout: on the pooled vector (and the hidden layer's output).
    """

    pooling: PoolingName = "max"
    attention_size: int = 128
    hidden_size: int = 0
    dropout: float = 0.5


class ClassificationModule(TaskModule):
    """One class per example, from the pooled states of a (bidirectional) LSTM / GRU / Elman RNN encoder.

    Args:
        encoder: the recurrent encoder (cell rnn is Elman's SRN).
        classifier: the pooling and the layers after it.
        optimizer: Adam and its learning-rate schedule.
        word_dropout: in training, each word is read as <unk> with this probability (Iyyer et al. 2015): regularises
            embeddings learned from scratch and trains the <unk> embedding that unseen words get at test time.
        init_from: a checkpoint whose weights a new run starts from (same vocabularies).
        monitor: the validation metric that selects checkpoints (default val/accuracy).
        text: the vocabulary ("src") and the class names ("label"); linked from the data module by `captra fit`.
    """

    task = "classification"

    def __init__(
        self,
        encoder: EncoderConfig = EncoderConfig(embedding_size=300, hidden_size=150, dropout=0.5),
        classifier: ClassifierConfig = ClassifierConfig(),
        optimizer: OptimizerConfig = OptimizerConfig(),
        word_dropout: float = 0.0,
        init_from: str | None = None,
        monitor: str | None = None,
        text: dict[str, dict] | None = None,
    ) -> None:
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"model.word_dropout {word_dropout}: a probability below 1")
        super().__init__(optimizer, text, {"encoder": encoder, "classifier": classifier, "optimizer": optimizer,
                                           "word_dropout": word_dropout}, init_from, monitor)
        self.word_dropout = word_dropout
        self.encoder_config, self.classifier_config = as_config(encoder, EncoderConfig), as_config(classifier, ClassifierConfig)
        self.classes = label_names(self.texts)
        self.encoder = RecurrentEncoder(self.encoder_config, len(self.texts["src"].vocab))
        size = self.encoder.output_size
        self.pooling = build_pooling(self.classifier_config.pooling, size, self.classifier_config.attention_size)
        hidden = self.classifier_config.hidden_size
        layers: list[nn.Module] = [nn.Dropout(self.classifier_config.dropout)]
        if hidden:
            layers += [nn.Linear(size, hidden), nn.Tanh(), nn.Dropout(self.classifier_config.dropout)]
        self.output = nn.Sequential(*layers, nn.Linear(hidden or size, len(self.classes)))

    def forward(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor | None]:
        """Logits (B, K) and, for attention pooling, the weights (B, S) over each example's tokens."""
        memory = self.encoder(batch["src"], batch["src_lengths"])  # states (B, S, D)
        pooled, weights = self.pooling(memory)  # (B, D), (B, S) or None
        return self.output(pooled), weights

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor | None:
        if self.word_dropout:
            src = batch["src"]  # (B, S)
            dropped = (torch.rand(src.shape, device=src.device) < self.word_dropout) & (src != PAD_ID)
            batch = {**batch, "src": src.masked_fill(dropped, UNK_ID)}
        logits, _ = self(batch)
        labels = batch["label"]  # (B,)
        nll = F.cross_entropy(logits.float(), labels, reduction="sum")
        examples, finite = self._global_batch(torch.tensor(len(labels), device=logits.device), [nll])
        loss = nll / examples  # per example of the global batch
        if not finite:
            return self._on_nonfinite_loss(loss)  # None: Lightning skips backward and the optimizer step
        self.log("train/loss", loss, prog_bar=True, batch_size=len(labels), sync_dist=True)
        return loss

    def evaluation_step(self, batch: dict[str, Any]) -> None:
        """Summed cross-entropy per example; per example (predicted class, gold class, class probabilities)."""
        logits, _ = self(batch)
        labels = batch["label"]
        self.record_loss(float(F.cross_entropy(logits.float(), labels, reduction="sum")), len(labels))
        probabilities = logits.float().softmax(-1)  # (B, K)
        outputs = list(zip(probabilities.argmax(-1).tolist(), labels.tolist(), probabilities.tolist()))
        self.record_outputs(batch["ids"].tolist(), outputs)

    def evaluation_scores(self, outputs: list[tuple[int, int, list[float]]]) -> dict[str, float | str]:
        """Accuracy and macro-F1 (0-100, scikit-learn)."""
        return scores([label for _, label, _ in outputs], [predicted for predicted, _, _ in outputs])

    @torch.no_grad()
    def classify(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor | None]:
        """Class probabilities (B, K) and the attention pooling's weights (B, S) or None, without gradients."""
        logits, weights = self(batch)
        return logits.float().softmax(-1), weights

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[tuple[int, str]]:
        """(example id, predicted class name) per example, for `captra predict`."""
        probabilities, _ = self.classify(batch)
        return [(i, self.classes[k]) for i, k in zip(batch["ids"].tolist(), probabilities.argmax(-1).tolist())]
