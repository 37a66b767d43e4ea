"""TranslationModule: RecurrentEncoder + the shared attention decoder (Bahdanau et al. 2015)."""

from __future__ import annotations

from typing import Any

from captra.common.decoder import DecoderConfig
from captra.common.memory import Memory
from captra.translation.metrics import translation_scores
from captra.common.module import OptimizerConfig, Seq2SeqModule, as_config
from captra.common.decoding import SearchConfig
from captra.translation.encoder import EncoderConfig, RecurrentEncoder


class TranslationModule(Seq2SeqModule):
    """BiLSTM encoder + attention LSTM decoder; attention 'none' gives the seq2seq baseline.

    Args:
        encoder: source encoder.
        decoder: attention decoder.
        search: decoding used for validation, test, predict and `captra translate`.
        optimizer: Adam and its learning-rate schedule.
        label_smoothing: of the training cross-entropy (0 turns it off).
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
        text: dict[str, dict] | None = None,
    ) -> None:
        hparams = dict(encoder=encoder, decoder=decoder, search=search, optimizer=optimizer, label_smoothing=label_smoothing)
        super().__init__(decoder, search, optimizer, label_smoothing, text, hparams)
        self.encoder_config = as_config(encoder, EncoderConfig)
        self.encoder = RecurrentEncoder(self.encoder_config, len(self.texts["src"].vocab))
        self.decoder = self.build_decoder(self.encoder.output_size, self.encoder.output_size)

    def encode(self, batch: dict[str, Any]) -> Memory:
        return self.encoder(batch["src"], batch["src_lengths"])

    def score(self, hypotheses: list[str], references: list[list[str]]) -> dict[str, float | str]:
        return translation_scores(hypotheses, references)
