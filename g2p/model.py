"""G2PModule: letters -> the shared (Bi)LSTM encoder -> the shared attention decoder -> ARPAbet phonemes."""

from __future__ import annotations

from typing import Any

from captra.common.decoding.settings import SearchConfig
from captra.common.nn.decoder import DecoderConfig
from captra.common.nn.encoder import EncoderConfig, RecurrentEncoder
from captra.common.nn.memory import Memory
from captra.common.training.module import OptimizerConfig, as_config
from captra.common.training.self_critical import SelfCriticalConfig
from captra.common.training.seq2seq import Objective, Seq2SeqModule
from captra.g2p.metrics import error_rates


class G2PModule(Seq2SeqModule):
    """Grapheme-to-phoneme as sequence-to-sequence with attention (the attention learns the letter-phoneme alignment
    that NetTalk was given); attention 'none' gives the encoder-decoder without it.

    Args:
        encoder: the letter encoder.
        decoder: the phoneme decoder.
        search: decoding used for validation, test, predict and `captra pronounce`.
        optimizer: Adam and its learning-rate schedule.
        label_smoothing: of the training cross-entropy (0 turns it off).
        objective: xe: teacher-forced cross-entropy; scst: self-critical training with the per-word reward 100 x (1 -
            phoneme error rate) (start it from a cross-entropy run with init_from).
        self_critical: samples, baseline and temperature of self-critical training (objective scst).
        init_from: a checkpoint whose weights a new run starts from (same vocabularies; the optimizer, schedule and
            loop start fresh). Ignored when resuming with --ckpt_path.
        monitor: the validation metric that selects the best checkpoint, stops early and drives the plateau
            schedule; default: val/wer (lower is better).
        text: letter / phoneme vocabularies; linked from the data module by `captra fit`.
    """

    task = "g2p"

    def __init__(
        self,
        encoder: EncoderConfig = EncoderConfig(embedding_size=64, hidden_size=256, dropout=0.3),
        decoder: DecoderConfig = DecoderConfig(embedding_size=64, hidden_size=512, attention_size=256, output_size=64,
                                               dropout=0.3),
        search: SearchConfig = SearchConfig(beam_size=5, max_len_a=1.5, max_len_b=5, max_length=60),
        optimizer: OptimizerConfig = OptimizerConfig(),
        label_smoothing: float = 0.0,
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
        return self.encoder(batch["src"], batch["src_lengths"])  # states (B, letters, D)

    def score(self, hypotheses: list[str], references: list[list[str]]) -> dict[str, float | str]:
        return error_rates(hypotheses, references)
