"""What both tasks' data modules share: datasets per split and the loaders over them."""

from __future__ import annotations

from typing import Any, Callable

import lightning as L
from torch.utils.data import DataLoader, Dataset

from captra.common.data.batching import ShardSampler, bucketed_train_loader


class SplitDataModule(L.LightningDataModule):
    """Training batches bucketed by target length (resumable, split across DDP ranks) and evaluation
    batches sharded across ranks without duplicates.

    A subclass fills `self.datasets` (split name -> dataset with a `lengths` array: what training batches are
    bucketed by) in `setup`, sets `collate_fn`, and has `batch_size`, `eval_batch_size`, `num_workers`, `seed`,
    `val_split`, `test_split` attributes; `describe` prepares its corpus and says what is in it (`captra prepare`).
    """

    collate_fn: Callable[[list[Any]], dict[str, Any]]
    datasets: dict[str, Dataset]

    def describe(self, model: L.LightningModule | None = None) -> str:
        """Prepare every configured split ahead of training, for `model` where the data depends on its settings,
        and say what is in it."""
        raise NotImplementedError(f"{type(self).__name__} prepares nothing ahead of training")

    def stage_splits(self, stage: str | None) -> list[str]:
        """The splits a Lightning stage needs."""
        return {"fit": ["train", self.val_split], "validate": [self.val_split], "test": [self.test_split],
                "predict": [self.test_split]}.get(stage or "fit", [])

    @property
    def loader_workers(self) -> int:
        """Worker processes of the training and evaluation loaders."""
        return self.num_workers

    @property
    def pin_memory(self) -> bool:
        """Batches go to page-locked memory when training on a GPU (Lightning then copies them non-blocking)."""
        return self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"

    def train_dataloader(self) -> DataLoader:
        dataset = self.datasets["train"]
        return bucketed_train_loader(dataset, dataset.lengths, self.batch_size, self.seed, self.collate_fn,
                                     self.loader_workers, self.trainer, self.pin_memory)

    def _eval_loader(self, split: str) -> DataLoader:
        dataset = self.datasets[split]
        return DataLoader(dataset, batch_size=self.eval_batch_size, sampler=ShardSampler(len(dataset)),
                          collate_fn=self.collate_fn, num_workers=self.loader_workers, pin_memory=self.pin_memory)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.val_split)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_split)

    def predict_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_split)
