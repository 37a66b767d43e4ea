"""TaskModule: what the LightningModule of every task shares, whatever the task predicts.

The optimiser and its plateau schedule, the metric that selects checkpoints and its direction
(common/training/selection.py), the policy on a non-finite loss, starting from another checkpoint's weights
(`init_from`), the checkpoint's own metadata (task, vocabularies, RNG states), and exact evaluation under DDP:
each process records its examples' outputs by example id, and every process scores the gathered outputs of all
of them. Generation tasks build on Seq2SeqModule (common/training/seq2seq.py); a task that predicts no sequence
(a classifier) subclasses this one and fills in `training_step`, `evaluation_step`, `evaluation_scores` and, for
`captra predict`, a `predict_step` returning (example id, text) pairs. `text` holds its vocabularies (e.g. the
source's); `{}` for a task without any.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any, ClassVar, Literal

import lightning as L
import torch
from torch import Tensor

from captra.common.checkpoints.file import CheckpointError, read_checkpoint, require_same_task_and_vocabularies
from captra.common.text.pipeline import TextPipeline
from captra.common.training.distributed import gather_by_id
from captra.common.training.rng import capture_rng_state, restore_rng_state
from captra.common.training.selection import SelectionError, selection_for

CHECKPOINT_FORMAT = 1

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


def load_weights(module: "TaskModule", path: str) -> None:
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


class TaskModule(L.LightningModule):
    """The LightningModule a task's module builds on: optimisation, selection, checkpoints, exact evaluation."""

    task: ClassVar[str]

    def __init__(
        self,
        optimizer: OptimizerConfig,
        text: dict[str, dict] | None,
        hparams: dict[str, Any],
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
        hparams = {**hparams, "init_from": init_from, "monitor": monitor}
        self.save_hyperparameters({"_class_path": class_path, **{name: plain(value) for name, value in hparams.items()}})
        self.text_states = text
        self.texts = {side: TextPipeline.from_state(state) for side, state in text.items()}
        self.optimizer_config = as_config(optimizer, OptimizerConfig)
        self.init_from = init_from
        self.selection = selection_for(self.task, monitor)  # the metric that selects checkpoints, and its direction
        self._outputs: list[tuple[int, Any]] = []
        self._nll_sum = 0.0
        self._token_count = 0
        self._skipped_steps = 0

    def attached_trainer(self) -> L.Trainer | None:
        """The Trainer running this module, or None (used on its own, e.g. loaded for inference)."""
        try:
            return self.trainer
        except RuntimeError:  # Lightning: "... is not attached to a `Trainer`"
            return None

    # --- training -------------------------------------------------------------------------
    def _global_batch(self, count: Tensor, loss_terms: list[Tensor]) -> tuple[Tensor, bool]:
        """`count` (this process's loss units, e.g. target tokens) summed over the global batch and divided by the
        world size, and whether every loss term is finite on every process — one all-reduce under DDP.

        Each rank's loss is its summed loss over that count, so DDP's gradient average equals the gradient of the
        per-unit mean over the whole global batch, as one process with that batch would compute it; and all ranks
        agree on skipping a non-finite step.
        """
        non_finite = sum((~torch.isfinite(term.detach())).float() for term in loss_terms)
        totals = torch.stack([count.float(), non_finite])  # (2,)
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

    # --- evaluation: exact under DDP --------------------------------------------------------
    def evaluation_step(self, batch: dict[str, Any]) -> None:
        """Evaluate one batch: `record_loss` its summed loss and `record_outputs` what `evaluation_scores` scores."""
        raise NotImplementedError

    def evaluation_scores(self, outputs: list[Any]) -> dict[str, float | str]:
        """Corpus scores (0-100, by the task record's score names) of every example's recorded output, in example
        order; non-float values (signatures) are not logged."""
        raise NotImplementedError

    def record_outputs(self, example_ids: list[int], outputs: list[Any]) -> None:
        """Keep a batch's evaluation outputs (plain data) by example id: under DDP every process scores all of them."""
        self._outputs.extend(zip(example_ids, outputs))

    def record_loss(self, loss_sum: float, count: int) -> None:
        """Add a batch's evaluation loss, summed over `count` units (target tokens); logged per unit as loss and ppl."""
        self._nll_sum += loss_sum
        self._token_count += count

    def _evaluation_epoch_end(self, prefix: str) -> None:
        totals = torch.tensor([self._nll_sum, float(self._token_count)], dtype=torch.float64, device=self.device)
        totals = self.trainer.strategy.reduce(totals, reduce_op="sum")
        outputs = gather_by_id(self._outputs)
        self._outputs, self._nll_sum, self._token_count = [], 0.0, 0
        if not outputs:
            return
        metrics = self.evaluation_scores(outputs)
        nll = float(totals[0] / totals[1].clamp(min=1))  # per unit, every example counted once
        values = {"loss": nll, "ppl": math.exp(min(nll, 50.0)),
                  **{name: value for name, value in metrics.items() if isinstance(value, float)}}
        if self.selection.name not in values:
            kept = self._save_before_stopping()
            raise SelectionError(f"model.monitor {self.selection.metric!r}: this validation did not log it (it logged "
                                 f"{', '.join(f'{prefix}/{name}' for name in values)}); choose one of those"
                                 + (f"; the weights trained so far are in {kept}" if kept else ""))
        if prefix == "val" and not self.trainer.sanity_checking:
            self._step_plateau_schedule(values[self.selection.name])
        # Every rank scored the same gathered outputs: the values agree, and the (trivial) sync keeps Lightning quiet.
        for name, value in values.items():
            self.log(f"{prefix}/{name}", value, prog_bar=name == self.selection.name, sync_dist=True)

    def _save_before_stopping(self) -> Path | None:
        """While training, the run's state as last.ckpt in its checkpoint folder (a run stopped by an error keeps
        its weights); the path, or None where there is no such folder."""
        trainer = self.trainer
        callback = trainer.checkpoint_callback
        if trainer.state.fn != "fit" or callback is None or not getattr(callback, "dirpath", None):
            return None
        path = Path(callback.dirpath) / "last.ckpt"
        trainer.save_checkpoint(path)
        return path

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.evaluation_step(batch)

    def on_validation_epoch_end(self) -> None:
        self._evaluation_epoch_end("val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self.evaluation_step(batch)

    def on_test_epoch_end(self) -> None:
        self._evaluation_epoch_end("test")

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
    def starts_fresh(self, stage: str) -> bool:
        """Whether this is a new training run (not a resumed one, nor validation, test or predict)."""
        trainer = self.attached_trainer()
        return stage == "fit" and not (trainer is not None and trainer.ckpt_path is not None)

    def setup(self, stage: str) -> None:
        """`init_from`: a new run starts from that checkpoint's weights (a fresh optimizer and schedule)."""
        if self.starts_fresh(stage) and self.init_from:
            load_weights(self, self.init_from)

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
