"""`captra predict`'s output: every example's best hypothesis, gathered from all ranks, written in split order."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Sequence

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter

from captra.common.data.prepared_folder import partial_path
from captra.common.training.distributed import gather_by_id


class PredictionWriter(BasePredictionWriter):
    """Writes `predictions.tsv` in the run folder: a header, then `example<TAB>hypothesis` per example, by example
    number (translation: the line of the split, from 0; captioning: the image of the split). Under DDP each rank
    decodes its share and the first writes them all."""

    def __init__(self) -> None:
        super().__init__(write_interval="epoch")

    def write_on_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, predictions: Sequence[Any],
                           batch_indices: Sequence[Any]) -> None:
        records = [pair for batch in predictions for pair in batch]  # (example id, hypothesis)
        hypotheses = gather_by_id([(example, (example, text)) for example, text in records])
        folder = trainer.log_dir or trainer.default_root_dir  # log_dir is a collective call under DDP: on every rank
        if not trainer.is_global_zero:
            return
        path = Path(folder) / "predictions.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["example\thypothesis", *(f"{example}\t{text}" for example, text in hypotheses)]
        partial = partial_path(path)
        partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(partial, path)  # atomic: a run killed while writing leaves the previous file, never half of one
        print(f"captra: {len(hypotheses)} predictions written to {path}", file=sys.stderr)
