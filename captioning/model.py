"""CaptioningModule: Show, Attend and Tell (Xu et al. 2015) on the shared decoder, search and metrics.

Soft attention over the CNN's region grid, Xu's gating scalar on the context, and the doubly stochastic
attention penalty  lambda * mean_{b,s} (1 - sum_t alpha_{b,t,s})^2  that asks every region to be looked
at over the caption. Attention 'none' is Show and Tell (Vinyals et al. 2015): the mean region feature
only initialises the LSTM.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor

from captra.captioning.cider import CiderD
from captra.captioning.encoder import ImageEncoder, ImageEncoderConfig
from captra.common.nn.decoder import DecoderConfig
from captra.common.nn.memory import Memory
from captra.captioning.metrics import captioning_scores
from captra.common.training.module import OptimizerConfig, as_config
from captra.common.training.seq2seq import Objective, Seq2SeqModule
from captra.common.training.self_critical import SelfCriticalConfig
from captra.common.decoding.settings import SearchConfig
from captra.common.text.vocab import PAD_ID


class CaptioningModule(Seq2SeqModule):
    """Pretrained CNN regions + attention LSTM decoder.

    Args:
        encoder: the CNN, its weights, and how much of it is fine-tuned.
        decoder: attention decoder (`context_gate: true` is Xu et al.'s gating scalar).
        search: decoding used for validation, test, predict and `captra caption`.
        optimizer: Adam and its learning-rate schedule (fine-tuned CNN blocks use `encoder.fine_tune_lr`).
        label_smoothing: of the training cross-entropy (0 turns it off).
        attention_penalty: lambda of the doubly stochastic attention regularisation (0 turns it off).
        validation_meteor: compute METEOR in validation too (Java, about 7 s per evaluation); `captra test` and
            `captra report` always compute it, and every other metric is always computed.
        objective: xe: teacher-forced cross-entropy; scst: self-critical sequence training on the task's reward
            (start it from a cross-entropy run with init_from).
        self_critical: samples, baseline and temperature of self-critical training (objective scst).
        init_from: a checkpoint whose weights a new run starts from (same task and vocabularies; the optimizer,
            schedule and loop start fresh). Ignored when resuming with --ckpt_path.
        monitor: the validation metric that selects the best checkpoint, stops early and drives the plateau
            schedule, e.g. val/loss (lower is better for the loss, the perplexity and error rates); default: the
            task's main metric (val/cider).
        text: the caption vocabulary; linked from the data module by `captra fit`.
    """

    task = "captioning"

    def __init__(
        self,
        encoder: ImageEncoderConfig = ImageEncoderConfig(),
        decoder: DecoderConfig = DecoderConfig(context_gate=True),
        search: SearchConfig = SearchConfig(beam_size=3, max_len_a=0.0, max_len_b=40, allow_unk=False),
        optimizer: OptimizerConfig = OptimizerConfig(),
        label_smoothing: float = 0.0,
        attention_penalty: float = 1.0,
        validation_meteor: bool = True,
        objective: Objective = "xe",
        self_critical: SelfCriticalConfig = SelfCriticalConfig(),
        init_from: str | None = None,
        monitor: str | None = None,
        text: dict[str, dict] | None = None,
    ) -> None:
        hparams = dict(encoder=encoder, decoder=decoder, search=search, optimizer=optimizer,
                       label_smoothing=label_smoothing, attention_penalty=attention_penalty,
                       validation_meteor=validation_meteor)
        super().__init__(decoder, search, optimizer, label_smoothing, text, hparams, objective, self_critical, init_from,
                         monitor)
        self.encoder_config = as_config(encoder, ImageEncoderConfig)
        self.attention_penalty = attention_penalty
        self.validation_meteor = validation_meteor
        self.encoder = ImageEncoder(self.encoder_config)
        self.cider: CiderD | None = None  # the self-critical reward, built from the training references
        self.decoder = self.build_decoder(self.encoder.output_size, self.encoder.output_size)

    @classmethod
    def loading_hparams(cls, hparams: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint holds the CNN weights: build it empty rather than from the original weights file."""
        return {**hparams, "encoder": {**hparams.get("encoder", {}), "weights": "random"}}

    def encode(self, batch: dict[str, Any]) -> Memory:
        return self.encoder(images=batch.get("images"), features=batch.get("features"))

    def auxiliary_loss(self, attention: Tensor | None, batch: dict[str, Any]) -> Tensor | None:
        """Doubly stochastic attention: every region's attention, summed over the caption, near 1."""
        if attention is None or self.attention_penalty == 0:
            return None
        real = (batch["tgt"][:, 1:] != PAD_ID).unsqueeze(2)  # (B, T, 1)
        coverage = (attention * real).sum(dim=1)  # (B, S)
        return self.attention_penalty * ((1.0 - coverage) ** 2).mean()

    def score(self, hypotheses: list[str], references: list[list[str]]) -> dict[str, float | str]:
        """nltk BLEU-1..4 and the COCO caption metrics (METEOR left out of validation if so configured)."""
        trainer = self.attached_trainer()
        validating = trainer is not None and trainer.validating
        return captioning_scores(hypotheses, references, meteor=self.validation_meteor or not validating)

    def prepare_rewards(self, datamodule: L.LightningDataModule) -> None:
        """CIDEr-D with the document frequencies of the training split's references (never validation or test)."""
        self.cider = CiderD([image.captions for image in datamodule.read_split("train") if image.captions])

    def rewards(self, outputs: list[list[int]], references: list[list[str]]) -> Tensor:
        """(N,) CIDEr-D x 100 (the scale of val/cider) of each sampled caption against its image's references."""
        if self.cider is None:
            raise RuntimeError("CaptioningModule.rewards needs prepare_rewards(datamodule) first")
        captions = [self.texts["tgt"].decode(tokens) for tokens in outputs]
        return torch.tensor(self.cider.scores(captions, references), dtype=torch.float32) * 100.0

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Fine-tuned CNN blocks learn at their own rate."""
        tuned = [p for p in self.encoder.parameters() if p.requires_grad]
        tuned_ids = {id(p) for p in tuned}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in tuned_ids]
        groups = [{"params": rest}]
        if tuned:
            groups.append({"params": tuned, "lr": self.encoder_config.fine_tune_lr})
        return groups
