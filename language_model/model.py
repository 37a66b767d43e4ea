"""LanguageModelModule: the shared decoder without a source — an LSTM / GRU / Elman (SRN) stack predicting the next
token (char-rnn, Karpathy 2015; Elman 1990), trained with truncated backpropagation through time."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from captra.common.checkpoints.file import CheckpointError
from captra.common.decoding.settings import SearchConfig
from captra.common.nn.decoder import DecoderConfig, DecoderState
from captra.common.nn.memory import Memory
from captra.common.text.vocab import PAD_ID
from captra.common.training.module import OptimizerConfig
from captra.common.training.seq2seq import Seq2SeqModule
from captra.language_model.scoring import predicted_correctly


class LanguageModelModule(Seq2SeqModule):
    """Predicts each token from the ones before it; samples continue a prompt (`captra sample`).

    Windows of a text stream continue each other row by row (language_model/stream.py): the state reached at the
    end of one window starts the next (detached: gradients flow back `data.window` tokens at most), in training
    and in evaluation; strings (the formal languages) each start from the start state.

    Args:
        decoder: the recurrent stack (attention none: a language model has no source; cell rnn is Elman's SRN).
        search: how `captra sample` and the report's samples decode (sample, greedy or beam).
        optimizer: Adam and its learning-rate schedule.
        label_smoothing: of the training cross-entropy (0 turns it off).
        legal_threshold: formal languages: a symbol is among the model's predicted next symbols when its
            probability is at least this (a string counts as predicted when those are exactly the legal ones).
        init_from: a checkpoint whose weights a new run starts from (same vocabulary).
        monitor: the validation metric that selects checkpoints (default val/loss, lower is better; for a formal
            language also val/accuracy, the strings predicted).
        text: the vocabulary ("tgt"); linked from the data module by `captra fit`.
    """

    task = "language_model"
    self_critical_training = False

    def __init__(
        self,
        decoder: DecoderConfig = DecoderConfig(attention="none", embedding_size=64, hidden_size=512, num_layers=2,
                                               output_size=512, dropout=0.2),
        search: SearchConfig = SearchConfig(strategy="sample", temperature=0.8, max_len_a=0.0, max_len_b=500,
                                            max_length=10_000, min_len_b=500),
        optimizer: OptimizerConfig = OptimizerConfig(lr=2e-3),
        label_smoothing: float = 0.0,
        legal_threshold: float = 0.3,
        init_from: str | None = None,
        monitor: str | None = None,
        text: dict[str, dict] | None = None,
    ) -> None:
        hparams = dict(decoder=decoder, search=search, optimizer=optimizer, label_smoothing=label_smoothing,
                       legal_threshold=legal_threshold)
        super().__init__(decoder, search, optimizer, label_smoothing, text, hparams, init_from=init_from, monitor=monitor)
        if self.decoder_config.attention != "none":
            raise ValueError(f"decoder.attention {self.decoder_config.attention!r}: a language model has no source to "
                             "attend to; use attention none")
        self.legal_threshold = legal_threshold
        self.decoder = self.build_decoder(memory_size=1, summary_size=1)
        self._carried: dict[bool, DecoderState | None] = {True: None, False: None}  # by training mode

    # --- the recurrence -------------------------------------------------------------------
    def encode(self, batch: dict[str, Any]) -> Memory:
        """No source: an empty memory with a zero summary (the decoder's learned or zero start state), one row per
        example id."""
        return Memory.empty(torch.zeros(len(batch["ids"]), 1, device=self.device))

    def start_state(self, batch: dict[str, Any], memory: Memory) -> DecoderState | None:
        """The state each row starts from: for stream windows, the previous batch's last state (the start state
        where a row's window is its first); None (the start state) for strings."""
        previous = self._carried[self.training]
        if "window" not in batch or previous is None or previous.hidden.size(0) != len(batch["ids"]):
            return None
        fresh = (batch["window"] == 0).to(self.device).view(-1, 1, 1)  # (B, 1, 1)
        if bool(fresh.all()):
            return None
        start = self.decoder.init_state(self.decoder.prepare(memory))
        hidden = torch.where(fresh, start.hidden, previous.hidden.to(self.device))
        cell = None if start.cell is None else torch.where(fresh, start.cell, previous.cell.to(self.device))
        return DecoderState(hidden, cell)

    def forward(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing from each row's start state: logits (B, T, V) for `tgt[:, 1:]`; the last state is kept
        for the next window of a stream."""
        memory = self.encode(batch)
        logits, _, last = self.decoder.unroll(memory, batch["tgt"][:, :-1], self.start_state(batch, memory))
        self._carried[self.training] = last.detach() if "window" in batch else None
        return logits, None

    # --- evaluation -----------------------------------------------------------------------
    def evaluation_step(self, batch: dict[str, Any]) -> None:
        """Summed loss; per window its loss and characters (bits per character), or per string whether it was
        predicted (formal languages)."""
        logits, _ = self(batch)
        targets = batch["tgt"][:, 1:]  # (B, T)
        nll = F.cross_entropy(logits.transpose(1, 2).float(), targets, ignore_index=PAD_ID, reduction="none").sum(1)  # (B,)
        self.record_loss(float(nll.sum()), int((targets != PAD_ID).sum()))
        if "legal" in batch:
            correct = predicted_correctly(logits, batch["legal"], batch["scored"], targets != PAD_ID, self.legal_threshold)
            outputs = list(zip(batch["size"].tolist(), correct.tolist()))
        else:
            outputs = list(zip(nll.tolist(), batch["chars"].tolist()))
        self.record_outputs(batch["ids"].tolist(), outputs)

    def evaluation_scores(self, outputs: list[tuple[Any, Any]]) -> dict[str, float | str]:
        """Bits per character of a text, or the percentage of formal-language strings predicted."""
        if isinstance(outputs[0][1], bool):
            return {"accuracy": 100.0 * sum(correct for _, correct in outputs) / len(outputs)}
        chars = sum(count for _, count in outputs)
        return {"bpc": sum(nll for nll, _ in outputs) / max(chars, 1.0) / math.log(2)}

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[tuple[int, str]]:
        raise CheckpointError("captra predict: a language model has no output per example; score it with captra test "
                              "or captra report, and write text with captra sample")

    def ensemble_with(self, members: list[Seq2SeqModule], names: list[str]) -> None:
        raise CheckpointError("--ensemble: language models are scored and sampled one at a time")

    # --- checkpoints: the carried state -----------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """With the state training carries from window to window (one process: under DDP a resumed run restarts
        every row from the start state), so that a run resumed mid-epoch continues exactly."""
        super().on_save_checkpoint(checkpoint)
        state = self._carried[True]
        trainer = self.attached_trainer()
        if state is not None and (trainer is None or trainer.world_size == 1):
            checkpoint["captra"]["carried_state"] = {"hidden": state.hidden.cpu(),
                                                     "cell": None if state.cell is None else state.cell.cpu()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        carried = checkpoint.get("captra", {}).get("carried_state")
        trainer = self.attached_trainer()
        if trainer is not None and trainer.world_size > 1:
            carried = None  # the saved rows are one process's; the processes' rows start from the start state
        self._carried[True] = None if carried is None else DecoderState(carried["hidden"], carried["cell"])
