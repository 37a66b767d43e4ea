"""The prepared, memory-mapped data path gives exactly what the in-memory path it replaced gave (tests/legacy_data.py):
the same vocabularies, the same batches in the same order, and after training steps bit-identical weights, on the
real Multi30k and Flickr8k data, so every recorded number stands."""

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from captra.captioning.data import CaptioningDataModule
from captra.captioning.model import CaptioningModule
from captra.common.nn.decoder import DecoderConfig
from captra.translation.data import TranslationDataModule
from captra.common.nn.encoder import EncoderConfig
from captra.translation.model import TranslationModule
from tests.helpers import write_shapes_dataset
from tests.legacy_data import LegacyCaptioningData, LegacyTranslationData

DATA = Path("../shared/data")
TINY_DECODER = DecoderConfig(embedding_size=16, hidden_size=16, attention_size=16, output_size=16, dropout=0.3)


def assert_same_batch(mine: dict, theirs: dict) -> None:
    assert mine.keys() == theirs.keys()
    for key, value in mine.items():
        if isinstance(value, torch.Tensor):
            assert value.dtype == theirs[key].dtype and torch.equal(value, theirs[key]), key
        else:
            assert value == theirs[key], key


def assert_same_epochs(prepared, legacy, epochs=(0, 3)) -> int:
    """Every training batch of these epochs, and every validation batch, equal; returns the batches compared."""
    compared = 0
    for epoch in epochs:
        loaders = [data.train_dataloader() for data in (prepared, legacy)]
        for loader in loaders:
            loader.batch_sampler.sampler.set_epoch(epoch)  # as Lightning does at every epoch start
        batches = [list(loader) for loader in loaders]
        assert len(batches[0]) == len(batches[1]) > 1
        for mine, theirs in zip(*batches):
            assert_same_batch(mine, theirs)
        compared += len(batches[0])
    for mine, theirs in zip(prepared.val_dataloader(), legacy.val_dataloader(), strict=True):
        assert_same_batch(mine, theirs)
    return compared


def weights_after_steps(module_factory, data, steps: int = 4) -> dict[str, torch.Tensor]:
    L.seed_everything(7)
    module = module_factory(data)
    trainer = L.Trainer(max_steps=steps, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, use_distributed_sampler=False,
                        accelerator="cpu", num_sanity_val_steps=0)
    trainer.fit(module, datamodule=data)
    return module.state_dict()


def assert_bit_identical(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor], start: dict[str, torch.Tensor]):
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert any(not torch.equal(first[name], start[name]) for name in first)  # the steps did change the weights


def tiny_translation(data) -> TranslationModule:
    return TranslationModule(encoder=EncoderConfig(embedding_size=16, hidden_size=8, dropout=0.3), decoder=TINY_DECODER,
                             text=data.text)


def test_multi30k_prepared_equals_the_in_memory_path(tmp_path):
    options = dict(data_dir=str(DATA / "multi30k"), batch_size=64, seed=3)
    prepared = TranslationDataModule(**options, cache_dir=str(tmp_path), num_proc=2)
    legacy = LegacyTranslationData(**options)
    assert prepared.text == legacy.text  # SentencePiece fitted on a sample of at most 2M pairs: all 29,000 here
    for data in (prepared, legacy):
        data.setup("fit")
    assert assert_same_epochs(prepared, legacy) == 2 * 454
    L.seed_everything(7)
    start = tiny_translation(prepared).state_dict()
    fresh = TranslationDataModule(**options, cache_dir=str(tmp_path), num_proc=2)  # a new run: read from the cache
    assert_bit_identical(weights_after_steps(tiny_translation, fresh), weights_after_steps(tiny_translation, legacy), start)


def test_flickr8k_prepared_captions_equal_the_in_memory_path(tmp_path, monkeypatch):
    """The caption side of every batch of the real Flickr8k splits (the CNN is replaced by each image's row number,
    so no feature cache of 8,000 images needs building)."""

    class Rows:  # stands in for the images: row -> a tensor holding the row
        def __getitem__(self, row):
            return torch.tensor([row])

    monkeypatch.setattr(CaptioningDataModule, "_source", lambda self, split, paths: (Rows(), {5: "unreadable"}))
    monkeypatch.setattr(CaptioningDataModule, "_attach_from_trainer", lambda self: None)
    options = dict(data_dir=str(DATA / "flickr8k"), batch_size=64, num_workers=0, seed=1)
    prepared = CaptioningDataModule(**options, cache_dir=str(tmp_path), num_proc=2)
    legacy = LegacyCaptioningData(**options)
    assert prepared.text == legacy.text
    for data in (prepared, legacy):
        data.setup("fit")
    assert assert_same_epochs(prepared, legacy) == 2 * 469  # 29,995 captions of 5,999 readable training images
    prepared.train_per_image = legacy.train_per_image = True  # self-critical training: every image once
    for data in (prepared, legacy):
        data.datasets.clear()
        data.setup("fit")
    assert assert_same_epochs(prepared, legacy, epochs=(2,)) == 94


@pytest.mark.parametrize("per_image", [False, True])
def test_captioning_weights_after_steps_equal_the_in_memory_path(tmp_path, per_image):
    write_shapes_dataset(tmp_path / "data")
    extra = {"objective": "scst", "self_critical": {"samples": 2}} if per_image else {}

    def tiny_captioner(data) -> CaptioningModule:
        return CaptioningModule(encoder={"backbone": "timm:test_efficientnet", "weights": "random"}, decoder=TINY_DECODER,
                                text=data.text, **extra)

    options = dict(data_dir=str(tmp_path / "data"), min_freq=1, batch_size=4, num_workers=0)
    L.seed_everything(7)
    start = tiny_captioner(CaptioningDataModule(**options, cache_dir=str(tmp_path / "start"))).state_dict()
    # each run builds its own feature cache, as building draws a DataLoader seed from the random stream
    weights = [weights_after_steps(tiny_captioner, data(**options, cache_dir=str(tmp_path / data.__name__)), steps=3)
               for data in (CaptioningDataModule, LegacyCaptioningData)]
    assert_bit_identical(*weights, start)


def test_the_numpy_bucketing_equals_the_list_bucketing_it_replaced():
    from captra.common.data.batching import BucketBatchSampler, EpochRandomSampler
    from tests.legacy_data import LegacyBucketBatchSampler

    lengths = np.random.default_rng(0).integers(1, 60, size=1003)
    for world in (1, 3):
        samplers = [kind(EpochRandomSampler(range(1003), seed=5), 16, False, lengths, pool_factor=4, seed=5)
                    for kind in (BucketBatchSampler, LegacyBucketBatchSampler)]
        for sampler in samplers:
            sampler._world = lambda world=world: (1 % world, world)
            sampler.sampler.set_epoch(2)
            sampler.skip = 3
        assert list(samplers[0]) == list(samplers[1])
