import gzip

import pytest
import torch

from captra.common.text.files import DataError
from tests.helpers import write_reverse_corpus
from captra.common.data.batching import BucketBatchSampler
from captra.translation.data import TranslationDataModule


def test_bucket_batches_cover_every_index_once_and_group_similar_lengths():
    lengths = [(i * 7) % 23 + 1 for i in range(200)]
    sampler = BucketBatchSampler(range(200), batch_size=16, drop_last=False, lengths=lengths, pool_factor=4)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(200))
    def mean_spread(groups):
        return sum(max(lengths[i] for i in g) - min(lengths[i] for i in g) for g in groups) / len(groups)

    unbucketed = [list(range(s, min(s + 16, 200))) for s in range(0, 200, 16)]
    assert mean_spread(batches) < 0.5 * mean_spread(unbucketed)
    assert list(sampler) != batches  # a new order every epoch


def datamodule(folder, **kw):
    return TranslationDataModule(data_dir=str(folder), src_lang="src", tgt_lang="tgt", test_split="test",
                                 tokenizer="word", batch_size=8, eval_batch_size=4, **kw)


def test_batches_hold_ids_padded_tensors_and_raw_references(tmp_path):
    write_reverse_corpus(tmp_path, {"train": 40, "val": 9, "test": 5})
    data = datamodule(tmp_path)
    data.setup("fit")
    batch = next(iter(data.val_dataloader()))
    assert batch["src"].shape[0] == 4 and batch["tgt"][:, 0].eq(2).all()
    assert batch["src_lengths"].tolist() == sorted(batch["src_lengths"].tolist())  # eval sorted by length
    row = 0
    line = (tmp_path / "val.tgt").read_text().splitlines()[int(batch["ids"][row])]
    assert batch["references"][row] == [line]
    assert data.pipelines["tgt"].decode(batch["tgt"][row, 1:].tolist()) == line


def test_empty_and_overlong_training_pairs_are_dropped_with_a_count(tmp_path, caplog):
    write_reverse_corpus(tmp_path, {"val": 3, "test": 3})
    (tmp_path / "train.src").write_text("a b\n\nc d e f g h\n   \ni j\n")
    (tmp_path / "train.tgt").write_text("b a\nx\nh g f e d c\nk\n\n")
    data = datamodule(tmp_path, max_length=4)
    data.setup("fit")
    assert data.datasets["train"].rows.tolist() == [0]
    assert "dropped 3 pairs with an empty side and 1 longer than 4 tokens" in caplog.text


def test_parallel_files_of_different_lengths_are_refused_naming_both(tmp_path):
    write_reverse_corpus(tmp_path, {"train": 10})
    (tmp_path / "train.tgt").write_text("a\nb\n")
    with pytest.raises(DataError, match=r"train.src.gz has 10 lines, .*train.tgt has 2"):
        datamodule(tmp_path).pipelines


def test_missing_split_and_non_utf8_lines_are_named(tmp_path):
    write_reverse_corpus(tmp_path, {"train": 10})
    with pytest.raises(DataError, match=r"val.src\]?\[?.*no such file"):
        datamodule(tmp_path).read_split("val")
    with gzip.open(tmp_path / "train.src.gz", "wb") as handle:
        handle.write(b"a b\nc \xff d\n")
    (tmp_path / "train.tgt").write_text("b a\nd c\n")
    with pytest.raises(DataError, match=r"train.src.gz:2: not UTF-8"):
        datamodule(tmp_path).pipelines


def test_the_batch_order_depends_only_on_seed_and_epoch_so_a_resumed_run_replays_it():
    from captra.common.data.batching import EpochRandomSampler

    lengths = [i % 9 + 1 for i in range(100)]

    def batches(epoch):
        sampler = BucketBatchSampler(EpochRandomSampler(range(100), seed=3), 8, False, lengths, pool_factor=2, seed=3)
        sampler.sampler.set_epoch(epoch)  # what Lightning does at every epoch start, also after resuming
        return list(sampler)

    assert batches(2) == batches(2)
    assert batches(2) != batches(1)
    assert sorted(i for b in batches(5) for i in b) == list(range(100))


@pytest.mark.parametrize("device,pinned", [("cpu", False), ("cuda", True)])
def test_loaders_pin_memory_only_when_training_on_a_gpu(tmp_path, device, pinned):
    from types import SimpleNamespace

    write_reverse_corpus(tmp_path, {"train": 40, "val": 9, "test": 5})
    data = datamodule(tmp_path)
    data.setup("fit")
    data.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)), fit_loop=None)
    assert data.train_dataloader().pin_memory is pinned
    assert data.val_dataloader().pin_memory is pinned
