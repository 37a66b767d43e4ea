"""Seq2SeqModule: the LightningModule both tasks share.

It owns the teacher-forced loss, decoding during validation/test with the configured search,
exact (DDP-safe) metric computation, optimisers, and the self-contained checkpoint. A task
subclass adds only its encoder (`encode`), its metric (`score`) and, if any, a loss term.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any, ClassVar, Literal

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from captra.common.checkpoints.file import CheckpointError, read_checkpoint, require_same_task_and_vocabularies
from captra.common.nn.decoder import AttentionDecoder, DecoderConfig
from captra.common.training.distributed import gather_by_id
from captra.common.decoding.ensemble import Ensemble
from captra.common.nn.memory import Memory
from captra.common.training.rng import capture_rng_state, restore_rng_state
from captra.common.decoding.settings import Hypothesis, SearchConfig, TokenRules
from captra.common.decoding.search import search
from captra.common.training.selection import selection_for
from captra.common.training.self_critical import SelfCriticalConfig, self_critical_step
from captra.common.task import get_task
from captra.common.text.pipeline import TextPipeline
from captra.common.text.vocab import PAD_ID, UNK_ID

CHECKPOINT_FORMAT = 1
Objective = Literal["xe", "scst"]

log = logging.getLogger(__name__)


@dataclass
class OptimizerConfig:
    """Adam with an optional reduce-on-plateau schedule driven by the validation score.

    Attributes:
        lr: Adam's learning rate.
        weight_decay: Adam's L2 penalty.
        scheduler: plateau (multiply the lr by plateau_factor when the validation score stalls) or none.
        plateau_factor: what the lr is multiplied by on a plateau.
        plateau_patience: validation runs without improvement before the lr drops.
        min_lr: the lr never drops below this.
        on_nonfinite_loss: on a NaN/inf training loss, stop the run (keeping the last good weights) or skip the step.
    """

    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: Literal["plateau", "none"] = "plateau"
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    min_lr: float = 1e-5
    on_nonfinite_loss: Literal["stop", "skip"] = "stop"


def as_config(value: Any, config_class: type) -> Any:
    """A config dataclass from itself or from its dict form (as stored in a checkpoint)."""
    return config_class(**value) if isinstance(value, dict) else value


def plain(value: Any) -> Any:
    """Dataclasses -> dicts, so hyper-parameters stay loadable with `weights_only=True`."""
    return asdict(value) if is_dataclass(value) else value


def load_weights(module: "Seq2SeqModule", path: str) -> None:
    """Copy a checkpoint's weights into `module` (only the weights: no optimizer, schedule or loop state); the
    checkpoint must be of the same task, vocabularies and architecture."""
    checkpoint = read_checkpoint(path)
    info = checkpoint["captra"]
    require_same_task_and_vocabularies(path, info.get("task"), info.get("text"), "this run", module.task,
                                       module.text_states, "init_from needs a checkpoint of the same task and vocabularies")
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:
        first_line = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{path}: its weights do not fit this model's configuration ({first_line})") from error
    log.info("weights initialised from %s", path)


class Seq2SeqModule(L.LightningModule):
    """Encoder -> Memory -> AttentionDecoder -> search -> text, for any task that fills in `encode`."""

    task: ClassVar[str]

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
        super().__init__()
        if text is None:
            raise ValueError(
                f"{type(self).__name__} needs the vocabularies: train with `captra fit` (the data module "
                "builds them) or load a checkpoint"
            )
        class_path = f"{type(self).__module__}.{type(self).__qualname__}"  # lets `captra test --ckpt_path` rebuild it
        hparams = {**hparams, "objective": objective, "self_critical": self_critical, "init_from": init_from,
                   "monitor": monitor}
        self.save_hyperparameters({"_class_path": class_path, **{name: plain(value) for name, value in hparams.items()}})
        self.text_states = text
        self.texts = {side: TextPipeline.from_state(state) for side, state in text.items()}
        self.decoder_config = as_config(decoder, DecoderConfig)
        self.search_config = as_config(search, SearchConfig)
        self.optimizer_config = as_config(optimizer, OptimizerConfig)
        self.label_smoothing = label_smoothing
        self.objective = objective
        self.self_critical_config = as_config(self_critical, SelfCriticalConfig)
        self.init_from = init_from
        self.selection = selection_for(self.task, monitor)  # the metric that selects checkpoints, and its direction
        # (Ensemble of this module and others,) or (): a tuple, so that the ensemble is not registered as a submodule
        # (it holds this module: state_dict would recurse) and its other members are never trained or saved.
        self._ensemble: tuple[Ensemble, ...] = ()
        self._outputs: list[tuple[int, tuple[str, list[str]]]] = []
        self._nll_sum = 0.0
        self._token_count = 0
        self._skipped_steps = 0

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

    def attached_trainer(self) -> L.Trainer | None:
        """The Trainer running this module, or None (used on its own, e.g. loaded for inference)."""
        try:
            return self.trainer
        except RuntimeError:  # Lightning: "... is not attached to a `Trainer`"
            return None

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
        tokens, finite = self._global_batch(targets, [nll] if extra is None else [nll, extra])
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
        _, finite = self._global_batch(batch["tgt"], [step.loss])
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
        return torch.tensor(get_task(self.task).sentence_score(hypotheses, references), dtype=torch.float32)

    def prepare_rewards(self, datamodule: L.LightningDataModule) -> None:
        """Build what `rewards` needs from the training data (e.g. document frequencies); nothing by default."""

    def _global_batch(self, targets: Tensor, loss_terms: list[Tensor]) -> tuple[Tensor, bool]:
        """Target tokens of the global batch divided by the world size, and whether every loss term is
        finite on every process — one all-reduce under DDP.

        Each rank's loss is its token NLL sum over those tokens, so DDP's gradient average equals the
        gradient of the per-token mean over the whole global batch, as one process with that batch would
        compute it; and all ranks agree on skipping a non-finite step.
        """
        non_finite = sum((~torch.isfinite(term.detach())).float() for term in loss_terms)
        totals = torch.stack([(targets != PAD_ID).sum().float(), non_finite])  # (2,)
        trainer = self.attached_trainer()
        world = trainer.world_size if trainer is not None else 1
        if world > 1:
            totals = trainer.strategy.reduce(totals, reduce_op="sum")
        return totals[0] / world, bool(totals[1] == 0)

    def _on_nonfinite_loss(self, loss: Tensor) -> None:
        """Skip the step, or stop the run with the weights of the last good step (configurable)."""
        trainer = self.attached_trainer()
        step = trainer.global_step if trainer is not None else -1
        self._skipped_steps += 1
        if self.optimizer_config.on_nonfinite_loss == "skip":
            log.warning("non-finite training loss (%s) at step %d: step skipped (%d so far)", float(loss), step, self._skipped_steps)
            self.log("train/skipped_steps", float(self._skipped_steps))
            return None
        log.error(
            "non-finite training loss (%s) at step %d: stopping; the weights are those of the last good step and the "
            "checkpoints already written are intact (set model.optimizer.on_nonfinite_loss: skip to skip such steps)",
            float(loss), step,
        )
        if trainer is not None:
            trainer.should_stop = True
        return None

    # --- evaluation -----------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, batch: dict[str, Any], config: SearchConfig | None = None, keep_attention: bool = False) -> list[list[Hypothesis]]:
        """Search on a batch; one n-best list per example."""
        config = config or self.search_config
        return search(self.decoder, self.encode(batch), config, keep_attention, self.token_rules(config))

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

    def _evaluation_step(self, batch: dict[str, Any]) -> None:
        """Loss and decoding from one encoding of the batch."""
        model = self.evaluated_model()
        memory = model.encode(batch)
        scores, _ = model.decoder(memory, batch["tgt"][:, :-1])  # logits, or an ensemble's log-probabilities (B, T, V)
        targets = batch["tgt"][:, 1:]
        self._nll_sum += float(self._token_nll(scores, targets, 0.0))
        self._token_count += int((targets != PAD_ID).sum())
        rules = self.token_rules(self.search_config)
        best = [self.to_text(nbest[0]) for nbest in search(model.decoder, memory, self.search_config, rules=rules)]
        for example_id, hypothesis, references in zip(batch["ids"].tolist(), best, batch["references"]):
            self._outputs.append((example_id, (hypothesis, references)))

    def _evaluation_epoch_end(self, prefix: str) -> None:
        totals = torch.tensor([self._nll_sum, float(self._token_count)], dtype=torch.float64, device=self.device)
        totals = self.trainer.strategy.reduce(totals, reduce_op="sum")
        outputs = gather_by_id(self._outputs)
        self._outputs, self._nll_sum, self._token_count = [], 0.0, 0
        if not outputs:
            return
        metrics = self.score([hyp for hyp, _ in outputs], [refs for _, refs in outputs])
        nll = float(totals[0] / totals[1].clamp(min=1))  # per token, every example counted once
        values = {"loss": nll, "ppl": math.exp(min(nll, 50.0)),
                  **{name: value for name, value in metrics.items() if isinstance(value, float)}}
        if prefix == "val" and not self.trainer.sanity_checking:
            self._step_plateau_schedule(values[self.selection.name])
        # Every rank scored the same gathered outputs: the values agree, and the (trivial) sync keeps Lightning quiet.
        for name, value in values.items():
            self.log(f"{prefix}/{name}", value, prog_bar=f"{prefix}/{name}" == self.selection.metric, sync_dist=True)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluation_step(batch)

    def on_validation_epoch_end(self) -> None:
        self._evaluation_epoch_end("val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluation_step(batch)

    def on_test_epoch_end(self) -> None:
        self._evaluation_epoch_end("test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> list[tuple[int, str]]:
        """(example id, best hypothesis) for each example of the batch."""
        best = [self.to_text(nbest[0]) for nbest in self.evaluated_model().decode(batch)]
        return list(zip(batch["ids"].tolist(), best))

    # --- optimisation ---------------------------------------------------------------------
    def parameter_groups(self) -> list[dict[str, Any]]:
        """Adam's parameter groups: every trainable parameter at the configured lr by default."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]

    def configure_optimizers(self) -> dict[str, Any]:
        config = self.optimizer_config
        optimizer = torch.optim.Adam(self.parameter_groups(), lr=config.lr, weight_decay=config.weight_decay)
        trainer = self.attached_trainer()
        if config.scheduler == "none" or (trainer is not None and trainer.limit_val_batches == 0):
            return {"optimizer": optimizer}  # the plateau schedule follows validation: none without it
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=self.selection.mode, factor=config.plateau_factor, patience=config.plateau_patience, min_lr=config.min_lr
        )
        every = (trainer.check_val_every_n_epoch or 1) if trainer is not None else 1
        return {  # stepped after each validation, whose selection metric it follows
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": self.selection.metric, "interval": "epoch",
                             "frequency": every},
        }

    def _step_plateau_schedule(self, score: float) -> None:
        """Step the plateau schedule with a validation's score, before that validation's checkpoint is written."""
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(score)

    def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
        """Lightning's own stepping, except for the plateau schedule, which `_step_plateau_schedule` steps right after
        each validation: Lightning steps it at the epoch's end, after the checkpoint of that epoch's validation
        is written, and not at all at the end of the epoch a resumed run restarts in, so a resumed run lost one
        step of the schedule (and with it a halving of the rate) against an uninterrupted one."""
        if not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step() if metric is None else scheduler.step(metric)

    # --- starting points and checkpoints ---------------------------------------------------
    def setup(self, stage: str) -> None:
        """`init_from`: a new run starts from that checkpoint's weights (a fresh optimizer and schedule)."""
        trainer = self.attached_trainer()
        resuming = trainer is not None and trainer.ckpt_path is not None
        if stage != "fit" or resuming:
            return
        if self.init_from:
            load_weights(self, self.init_from)
        elif self.objective == "scst":
            log.warning("self-critical training from untrained weights: start it from a cross-entropy run's checkpoint "
                        "with --model.init_from CKPT")

    def on_fit_start(self) -> None:
        if self.objective == "scst":
            self.prepare_rewards(self.trainer.datamodule)

    @classmethod
    def loading_hparams(cls, hparams: dict[str, Any]) -> dict[str, Any]:
        """Hyper-parameters to rebuild the module before its state dict is loaded into it (its weights come from
        that state dict, not from `init_from`)."""
        return {**hparams, "init_from": None}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Vocabularies and tokenizer models travel inside the checkpoint as plain data, with the RNG states
        (this process's) so that a resumed run continues with the same random numbers."""
        checkpoint["captra"] = {"task": self.task, "format": CHECKPOINT_FORMAT, "text": self.text_states,
                                "rng": capture_rng_state()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "rng" in checkpoint.get("captra", {}):
            restore_rng_state(checkpoint["captra"]["rng"])
