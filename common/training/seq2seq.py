"""Seq2SeqModule: a TaskModule that generates sequences — encoder -> Memory -> AttentionDecoder -> search -> text.

It owns the teacher-forced cross-entropy, decoding during validation / test / predict with the configured search,
the token rules of the search, self-critical training and ensembles. A task subclass adds only its encoder
(`encode`), its metric (`score`) and, if any, a loss term.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from captra.common.decoding.ensemble import Ensemble
from captra.common.decoding.search import search
from captra.common.decoding.settings import Hypothesis, SearchConfig, TokenRules
from captra.common.nn.decoder import AttentionDecoder, DecoderConfig
from captra.common.nn.memory import Memory
from captra.common.task import get_task
from captra.common.text.vocab import PAD_ID, UNK_ID
from captra.common.training.module import OptimizerConfig, TaskModule, as_config
from captra.common.training.self_critical import SelfCriticalConfig, self_critical_step

Objective = Literal["xe", "scst"]

log = logging.getLogger(__name__)


class Seq2SeqModule(TaskModule):
    """Encoder -> Memory -> AttentionDecoder -> search -> text, for any task that fills in `encode`."""

    # Whether the task offers self-critical training (its `objective` and `self_critical` arguments, stored with
    # the hyper-parameters); a task that cannot (no sentence score to reward) sets it False and has neither.
    self_critical_training: ClassVar[bool] = True

    def __init__(
        self,
        decoder: DecoderConfig,
        search: SearchConfig,
        optimizer: OptimizerConfig,
        label_smoothing: float,
        text: dict[str, dict] | None,
        hparams: dict[str, Any],
        objective: Objective = "xe",
        self_critical: SelfCriticalConfig = SelfCriticalConfig(),
        init_from: str | None = None,
        monitor: str | None = None,
    ) -> None:
        if self.self_critical_training:
            hparams = {**hparams, "objective": objective, "self_critical": self_critical}
        elif objective != "xe":
            raise ValueError(f"objective {objective!r}: {type(self).__name__} trains with cross-entropy (xe) only")
        super().__init__(optimizer, text, hparams, init_from, monitor)
        self.decoder_config = as_config(decoder, DecoderConfig)
        self.search_config = as_config(search, SearchConfig)
        self.label_smoothing = label_smoothing
        self.objective = objective
        self.self_critical_config = as_config(self_critical, SelfCriticalConfig)
        # (Ensemble of this module and others,) or (): a tuple, so that the ensemble is not registered as a submodule
        # (it holds this module: state_dict would recurse) and its other members are never trained or saved.
        self._ensemble: tuple[Ensemble, ...] = ()

    # --- what a task provides -------------------------------------------------------------
    def encode(self, batch: dict[str, Any]) -> Memory:
        """Batch -> Memory (B, S, D)."""
        raise NotImplementedError

    def score(self, hypotheses: list[str], references: list[list[str]]) -> dict[str, float | str]:
        """Corpus metrics (0-100) by the task record's score names, its main metric among them."""
        raise NotImplementedError

    def auxiliary_loss(self, attention: Tensor | None, batch: dict[str, Any]) -> Tensor | None:
        """An extra loss term (e.g. the doubly stochastic attention penalty); none by default."""
        return None

    # --- building blocks ------------------------------------------------------------------
    def build_decoder(self, memory_size: int, summary_size: int) -> AttentionDecoder:
        return AttentionDecoder(self.decoder_config, len(self.texts["tgt"].vocab), memory_size, summary_size)

    def forward(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing: logits (B, T, V) for targets `tgt[:, 1:]`, attention (B, T, S)."""
        return self.decoder(self.encode(batch), batch["tgt"][:, :-1])

    def _token_nll(self, logits: Tensor, targets: Tensor, smoothing: float) -> Tensor:
        """Summed cross-entropy over non-padding target tokens."""
        return F.cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(),
            targets.reshape(-1),
            ignore_index=PAD_ID,
            label_smoothing=smoothing,
            reduction="sum",
        )

    # --- training -------------------------------------------------------------------------
    @property
    def needs_all_references(self) -> bool:
        """Whether training batches must hold every reference of each input, once per input (self-critical
        training scores samples against them) rather than one example per reference."""
        return self.objective == "scst"

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        if self.objective == "scst":
            return self._self_critical_training_step(batch)
        logits, attention = self(batch)
        targets = batch["tgt"][:, 1:]  # (B, T)
        nll = self._token_nll(logits, targets, self.label_smoothing)
        extra = self.auxiliary_loss(attention, batch)
        tokens, finite = self._global_batch((targets != PAD_ID).sum(), [nll] if extra is None else [nll, extra])
        loss = nll / tokens
        if extra is not None:
            loss = loss + extra
        if not finite:
            return self._on_nonfinite_loss(loss)  # None: Lightning skips backward and the optimizer step
        if extra is not None:
            self.log("train/aux_loss", extra, batch_size=targets.size(0))
        self.log("train/loss", loss, prog_bar=True, batch_size=targets.size(0), sync_dist=True)
        self.log("train/tokens", float((targets != PAD_ID).sum()), reduce_fx="sum", batch_size=targets.size(0))
        return loss

    def _self_critical_training_step(self, batch: dict[str, Any]) -> Tensor | None:
        """REINFORCE on the task's reward with a baseline (common/training/self_critical.py); logs reward, baseline,
        advantage, the policy's entropy and the sample length."""
        step = self_critical_step(self.decoder, self.encode(batch), batch["references"], self.rewards,
                                  self.self_critical_config, self.search_config, self.token_rules(self.search_config))
        _, finite = self._global_batch((batch["tgt"] != PAD_ID).sum(), [step.loss])
        if not finite:
            return self._on_nonfinite_loss(step.loss)
        size = len(batch["references"])
        for name, value in step.statistics().items():
            self.log(f"train/{name}", value, prog_bar=name == "reward", batch_size=size, sync_dist=True)
        self.log("train/loss", step.loss, batch_size=size, sync_dist=True)
        return step.loss

    def rewards(self, outputs: list[list[int]], references: list[list[str]]) -> Tensor:
        """(N,) reward of each output (token ids) against its input's references: the task's sentence score (0-100);
        a task overrides it where training needs another (captioning: CIDEr-D with training-split frequencies)."""
        hypotheses = [self.texts["tgt"].decode(tokens) for tokens in outputs]
        scorer = get_task(self.task).sentence_score
        if scorer is None:
            raise ValueError(f"the {self.task} task has no sentence score to reward self-critical training with")
        return torch.tensor(scorer(hypotheses, references), dtype=torch.float32)

    def prepare_rewards(self, datamodule: L.LightningDataModule) -> None:
        """Build what `rewards` needs from the training data (e.g. document frequencies); nothing by default."""

    # --- evaluation -----------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, batch: dict[str, Any], config: SearchConfig | None = None, keep_attention: bool = False,
               prefix: Tensor | None = None) -> list[list[Hypothesis]]:
        """Search on a batch; one n-best list per example, each hypothesis starting with its row of `prefix` (B, P)
        target ids (a prompt; `<pad>` after a row's own) where one is given."""
        config = config or self.search_config
        return search(self.decoder, self.encode(batch), config, keep_attention, self.token_rules(config), prefix)

    def token_rules(self, config: SearchConfig) -> TokenRules | None:
        """The search settings about particular tokens (`bad_endings`, `allow_unk`) as ids of the target vocabulary."""
        if not config.bad_endings and config.allow_unk:
            return None
        vocab = self.texts["tgt"].vocab
        endings = sorted({vocab.stoi[word] for word in config.bad_endings if word in vocab.stoi})
        device = self.device
        return TokenRules(
            no_end_after=torch.tensor(endings, dtype=torch.long, device=device) if endings else None,
            never=None if config.allow_unk else torch.tensor([UNK_ID], device=device),
        )

    def to_text(self, hypothesis: Hypothesis) -> str:
        return self.texts["tgt"].decode(hypothesis.tokens)

    def ensemble_with(self, members: list["Seq2SeqModule"], names: list[str]) -> None:
        """Validate, test and predict as the ensemble of this module (named `names[0]`) and `members` (`names[1:]`):
        the mean of their log-probabilities at every decoding step and in the loss. Other tasks or vocabularies are
        refused with a CheckpointError."""
        self._ensemble = (Ensemble([self, *members], names),)

    def evaluated_model(self) -> "Seq2SeqModule | Ensemble":
        """What validation, test and predict decode with: this module, or its ensemble (see `ensemble_with`), the
        other members moved to this module's device (a no-op once they are there)."""
        return self._ensemble[0].to(self.device) if self._ensemble else self

    def evaluation_step(self, batch: dict[str, Any]) -> None:
        """Loss and decoding from one encoding of the batch."""
        model = self.evaluated_model()
        memory = model.encode(batch)
        scores, _ = model.decoder(memory, batch["tgt"][:, :-1])  # logits, or an ensemble's log-probabilities (B, T, V)
        targets = batch["tgt"][:, 1:]
        self.record_loss(float(self._token_nll(scores, targets, 0.0)), int((targets != PAD_ID).sum()))
        rules = self.token_rules(self.search_config)
        best = [self.to_text(nbest[0]) for nbest in search(model.decoder, memory, self.search_config, rules=rules)]
        self.record_outputs(batch["ids"].tolist(), list(zip(best, batch["references"])))

    def evaluation_scores(self, outputs: list[tuple[str, list[str]]]) -> dict[str, float | str]:
        """The task's corpus metrics (`score`) of the best hypotheses against their references."""
        return self.score([hypothesis for hypothesis, _ in outputs], [references for _, references in outputs])

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[tuple[int, str]]:
        """(example id, best hypothesis) for each example of the batch."""
        best = [self.to_text(nbest[0]) for nbest in self.evaluated_model().decode(batch)]
        return list(zip(batch["ids"].tolist(), best))

    # --- starting points ------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        super().setup(stage)
        if self.starts_fresh(stage) and not self.init_from and self.objective == "scst":
            log.warning("self-critical training from untrained weights: start it from a cross-entropy run's checkpoint "
                        "with --model.init_from CKPT")

    def on_fit_start(self) -> None:
        if self.objective == "scst":
            self.prepare_rewards(self.trainer.datamodule)
