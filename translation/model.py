"""TranslationModule: RecurrentEncoder + the shared attention decoder (Bahdanau et al. 2015)."""

from __future__ import annotations

from typing import Any

from captra.common.nn.decoder import DecoderConfig
from captra.common.nn.memory import Memory
from captra.translation.metrics import translation_scores
from captra.common.training.module import OptimizerConfig, as_config
from captra.common.training.seq2seq import Objective, Seq2SeqModule
from captra.common.training.self_critical import SelfCriticalConfig
from captra.common.decoding.settings import SearchConfig
from captra.common.nn.encoder import EncoderConfig, RecurrentEncoder


class TranslationModule(Seq2SeqModule):
    """BiLSTM encoder + attention LSTM decoder; attention 'none' gives the seq2seq baseline.

    Args:
        encoder: source encoder.
        decoder: attention decoder.
        search: decoding used for validation, test, predict and `captra translate`.
        optimizer: Adam and its learning-rate schedule.
        label_smoothing: of the training cross-entropy (0 turns it off).
        objective: xe: teacher-forced cross-entropy; scst: self-critical sequence training on the task's reward
            (start it from a cross-entropy run with init_from).
        self_critical: samples, baseline and temperature of self-critical training (objective scst).
        init_from: a checkpoint whose weights a new run starts from (same task and vocabularies; the optimizer,
            schedule and loop start fresh). Ignored when resuming with --ckpt_path.
        monitor: the validation metric that selects the best checkpoint, stops early and drives the plateau
            schedule, e.g. val/loss (lower is better for the loss, the perplexity and error rates); default: the
            task's main metric (val/bleu).
        text: source/target vocabularies and tokenizers; linked from the data module by `captra fit`.
    """

    task = "translation"

    def __init__(
        self,
        encoder: EncoderConfig = EncoderConfig(),
        decoder: DecoderConfig = DecoderConfig(),
        search: SearchConfig = SearchConfig(),
        optimizer: OptimizerConfig = OptimizerConfig(),
        label_smoothing: float = 0.1,
        objective: Objective = "xe",
        self_critical: SelfCriticalConfig = SelfCriticalConfig(),
        init_from: str | None = None,
        monitor: str | None = None,
        text: dict[str, dict] | None = None,
    ) -> None:
        hparams = dict(encoder=encoder, decoder=decoder, search=search, optimizer=optimizer, label_smoothing=label_smoothing)
        super().__init__(decoder, search, optimizer, label_smoothing, text, hparams, objective, self_critical, init_from,
                         monitor)
        self.encoder_config = as_config(encoder, EncoderConfig)
        self.encoder = RecurrentEncoder(self.encoder_config, len(self.texts["src"].vocab))
        self.decoder = self.build_decoder(self.encoder.output_size, self.encoder.output_size)

    def encode(self, batch: dict[str, Any]) -> Memory:
        return self.encoder(batch["src"], batch["src_lengths"])

    def score(self, hypotheses: list[str], references: list[list[str]]) -> dict[str, float | str]:
        return translation_scores(hypotheses, references, self.text_states["tgt"].get("language"))
