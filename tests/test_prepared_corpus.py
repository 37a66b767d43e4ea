"""Prepared corpora: keyed by their inputs, built once by one of several processes, never read half-written; and
`captra prepare`, which prepares ahead of training and says what is in the corpus."""

import errno
import gzip
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from captra.common.data import encoding as corpus_encoding, prepared_folder
from captra.common.data.prepared_folder import Preparation, prepared
from captra.common.data.ragged import RaggedWriter
from captra.common.text.files import DataError
from captra.translation.data import TranslationDataModule
from tests.helpers import run_captra, write_reverse_corpus

TRANSLATION = ["-c", "configs/translation/base.yaml", "--data.src_lang", "src", "--data.tgt_lang", "tgt",
               "--data.test_split", "test", "--data.tokenizer", "word", "--data.max_length", "8"]


def data_module(folder: Path, cache: Path, **options) -> TranslationDataModule:
    return TranslationDataModule(data_dir=str(folder), src_lang="src", tgt_lang="tgt", test_split="test",
                                 tokenizer="word", cache_dir=str(cache), **options)


def partials(cache: Path) -> list[Path]:
    return [path for path in cache.rglob("*") if ".partial-" in path.name]


def test_captra_prepare_prints_the_statistics_and_a_second_run_reads_the_cache(tmp_path):
    write_reverse_corpus(tmp_path / "data", {"train": 300, "val": 7, "test": 5})
    with open(tmp_path / "data" / "train.tgt", "a") as handle:  # one pair with an empty side, one too long
        handle.write("\na b c d e f g h i\n")
    with open(tmp_path / "data" / "train.src.gz", "ab") as handle:  # a second gzip member: gzip reads on
        handle.write(gzip.compress("x y\ni h g f e d c b a\n".encode()))
    command = ["prepare", *TRANSLATION, "--data.data_dir", str(tmp_path / "data"), "--data.cache_dir", str(tmp_path / "cache")]
    first = run_captra(*command)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "train: 302 pairs" in first.stdout
    assert "kept 300, dropped 2: 1 with an empty side, 1 longer than 8 tokens (data.max_length)" in first.stdout
    assert "<unk> 0.00 % of them" in first.stdout and "lengths p50" in first.stdout and "val: 7 pairs" in first.stdout
    assert "302 rows tokenized" in first.stderr and "rows/s" in first.stderr  # the throughput line
    second = run_captra(*command)
    assert second.returncode == 0 and second.stdout == first.stdout
    assert "tokenized" not in second.stderr  # read from the cache, not tokenized again


def test_a_changed_input_gives_a_new_key_and_is_prepared_afresh(tmp_path):
    write_reverse_corpus(tmp_path / "data", {"train": 40, "val": 6, "test": 5})
    first = data_module(tmp_path / "data", tmp_path / "cache")
    first.setup("fit")
    before = first.corpus.split_folder("val")
    (tmp_path / "data" / "val.tgt").write_text("z y x\n" * 6)  # another validation split, same training split
    second = data_module(tmp_path / "data", tmp_path / "cache")
    second.setup("fit")
    assert second.corpus.folder == first.corpus.folder  # the same tokenizers ...
    assert second.corpus.split_folder("val") != before and before.is_dir()  # ... a new validation split
    assert second.datasets["val"].__getitems__([0])["references"] == [["z y x"]]
    (tmp_path / "data" / "train.tgt").write_text("q " * 3 + "\n" + (tmp_path / "data" / "train.tgt").read_text().split("\n", 1)[1])
    third = data_module(tmp_path / "data", tmp_path / "cache")
    assert third.corpus.folder != first.corpus.folder and "q" in third.pipelines["tgt"].vocab.stoi
    third.setup("fit")
    assert third.datasets["train"].split.columns["reference"].strings([0]) == ["q q q "]


CHILD = textwrap.dedent("""
    import os, signal, sys
    from captra.common.data import encoding as corpus_encoding
    from captra.common.data.ragged import RaggedWriter
    corpus_encoding.CHUNK_ROWS = 100
    from captra.translation.data import TranslationDataModule
    original, calls = RaggedWriter.append, []
    def append(self, flat, lengths):  # SIGKILL in the middle of the training split's columns
        calls.append(self.name)
        if self.folder.name.startswith(".train-") and len(calls) > 4:
            os.kill(os.getpid(), signal.SIGKILL)
        original(self, flat, lengths)
    RaggedWriter.append = append
    data = TranslationDataModule(data_dir=sys.argv[1], src_lang="src", tgt_lang="tgt", test_split="test",
                                 tokenizer="word", cache_dir=sys.argv[2], num_proc=1)
    data.setup("fit")
""")


def test_a_preparation_killed_midway_is_never_read_and_is_prepared_again(tmp_path, capsys):
    write_reverse_corpus(tmp_path / "data", {"train": 500, "val": 6, "test": 5})
    killed = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "data"), str(tmp_path / "cache")],
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    data = data_module(tmp_path / "data", tmp_path / "cache", num_proc=1)
    (left,) = partials(tmp_path / "cache")  # the killed run's half-written split ...
    assert left.name.startswith(".train-") and not (data.corpus.split_folder("train") / "meta.json").exists()
    data.setup("fit")  # ... is removed, and the split prepared again
    assert partials(tmp_path / "cache") == [] and len(data.datasets["train"]) == 500
    assert "rows tokenized" in capsys.readouterr().err


def test_a_full_disk_while_preparing_names_the_folder_and_the_space_and_leaves_nothing(tmp_path, monkeypatch):
    write_reverse_corpus(tmp_path / "data", {"train": 600, "val": 6, "test": 5})
    data = data_module(tmp_path / "data", tmp_path / "cache", num_proc=1)
    data.pipelines  # the tokenizers fit; the disk fills while the training split is written
    monkeypatch.setattr(corpus_encoding, "CHUNK_ROWS", 100)
    original, calls = RaggedWriter.append, []

    def append(self, flat, lengths):
        calls.append(self.name)
        if len(calls) > 6:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, flat, lengths)

    monkeypatch.setattr(RaggedWriter, "append", append)
    with pytest.raises(DataError) as error:
        data.setup("fit")
    message = str(error.value)
    assert str(tmp_path / "cache" / "corpora") in message and "no space left on device while preparing split 'train'" in message
    assert "of the input was read, about" in message and "MB needed in all" in message and "free" in message
    assert partials(tmp_path / "cache") == [] and not data.corpus.split_folder("train").exists()
    monkeypatch.setattr(RaggedWriter, "append", original)
    data.setup("fit")  # space again: prepared
    assert len(data.datasets["train"]) == 600


def test_another_process_finishing_first_is_used_when_the_filesystem_has_no_locks(tmp_path):
    final = tmp_path / "unit"

    def build(preparation: Preparation) -> dict:
        (preparation.folder / "mine").write_text("partial")
        other = tmp_path / "other"  # meanwhile another process renamed its complete folder into place
        other.mkdir()
        (other / "meta.json").write_text(json.dumps({"by": "other"}))
        other.rename(final)
        return {"by": "me"}

    assert prepared(final, build, "a unit") == {"by": "other"}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["unit", "unit.lock"]  # ours removed, theirs kept


def test_two_processes_preparing_the_same_corpus_at_once_end_with_one_valid_cache(tmp_path):
    write_reverse_corpus(tmp_path / "data", {"train": 20_000, "val": 6, "test": 5})
    command = [sys.executable, "-m", "captra", "prepare", *TRANSLATION, "--data.data_dir", str(tmp_path / "data"),
               "--data.cache_dir", str(tmp_path / "cache")]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    assert outputs[0][0] == outputs[1][0] and "train: 20,000 pairs" in outputs[0][0]
    assert partials(tmp_path / "cache") == []
    (corpus,) = (tmp_path / "cache" / "corpora").iterdir()
    assert sorted(p.name.split("-")[0] for p in corpus.iterdir() if p.is_dir()) == ["test", "tokenizers", "train", "val"]
    tokenized = sum(err.count("rows tokenized") for _, err in outputs)
    assert tokenized == 3  # each split tokenized once, by one of the two processes


def test_several_processes_tokenize_exactly_as_one(tmp_path, monkeypatch):
    write_reverse_corpus(tmp_path / "data", {"train": 1000, "val": 6, "test": 5})
    monkeypatch.setattr(corpus_encoding, "CHUNK_ROWS", 64)  # 16 chunks over 2 workers
    splits = []
    for processes in (1, 2):
        data = data_module(tmp_path / "data", tmp_path / f"cache{processes}", num_proc=processes)
        splits.append(data.corpus.prepare_split("train"))
    for name in ("src", "tgt", "reference"):
        one, two = (split.columns[name] for split in splits)
        assert len(one) == len(two) == 1000 and np.array_equal(one.lengths, two.lengths)
        assert all(np.array_equal(one[row], two[row]) for row in range(1000))
    assert splits[0].meta["columns"]["tgt"]["tokens"] == splits[1].meta["columns"]["tgt"]["tokens"] > 3000


def test_stale_partials_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    final = tmp_path / "unit"
    dead = prepared_folder.partial_path(final, pid=2**22 + 12345)  # no such process
    alive = prepared_folder.partial_path(final, pid=1)
    elsewhere = prepared_folder.partial_path(final, host="another-node", pid=77)
    for path in (dead, alive, elsewhere):
        path.mkdir()
    assert prepared_folder.remove_dead_partials(final) == [dead]
    assert alive.exists() and elsewhere.exists()  # a live process's, or another host's: not ours to judge


def test_loader_workers_read_the_same_batches_as_the_main_process(tmp_path):
    write_reverse_corpus(tmp_path / "data", {"train": 200, "val": 6, "test": 5})
    loaders = []
    for workers in (0, 2):
        data = data_module(tmp_path / "data", tmp_path / "cache", num_workers=workers, batch_size=16)
        data.setup("fit")
        loaders.append(list(data.train_dataloader()))
    assert len(loaders[0]) == len(loaders[1]) == 13
    for alone, worker in zip(*loaders):
        assert all(torch.equal(alone[key], worker[key]) for key in ("ids", "src", "src_lengths", "tgt"))
        assert alone["references"] == worker["references"]


def test_a_filesystem_whose_locks_fail_prepares_unlocked(tmp_path, monkeypatch, caplog):
    def failing(self, *args, **kwargs):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(prepared_folder.FileLock, "acquire", failing)
    assert prepared(tmp_path / "unit", lambda preparation: {"built": True}, "a unit") == {"built": True}
    assert "file locks do not work here" in caplog.text and "No locks available" in caplog.text
    assert json.loads((tmp_path / "unit" / "meta.json").read_text()) == {"built": True}


def test_a_process_waiting_for_another_says_so_until_the_lock_is_free(tmp_path, monkeypatch, capsys):
    import threading

    monkeypatch.setattr(prepared_folder, "WAIT_NOTICE_S", 0.2)
    holder = prepared_folder.FileLock(tmp_path / "unit.lock", thread_local=False)  # released by the timer thread
    holder.acquire()
    release = threading.Timer(0.7, holder.release)
    release.start()
    assert prepared(tmp_path / "unit", lambda preparation: {"built": True}, "a unit") == {"built": True}
    release.join()
    err = capsys.readouterr().err
    assert "waiting for another process preparing a unit" in err
    assert err.count(f"still waiting for {tmp_path / 'unit.lock'}") >= 2 and "delete that file" in err


def test_a_folder_that_captra_did_not_write_is_named_not_overwritten(tmp_path):
    (tmp_path / "unit").mkdir()
    (tmp_path / "unit" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match=r"unit: not a prepared folder captra wrote \(it has no meta.json\); delete it"):
        prepared(tmp_path / "unit", lambda preparation: {"built": True}, "a unit")
    assert (tmp_path / "unit" / "notes.txt").read_text() == "mine"
