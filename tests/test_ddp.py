"""DDP on 2 CPU processes (gloo): the same training as one process with the global batch, and exact
distributed evaluation on a split whose size the world size does not divide."""

import math
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run_captra, validation, write_reverse_corpus, write_shapes_dataset

DDP = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
TRANSLATION = [
    "-c", "configs/translation/base.yaml", "--data.src_lang", "src", "--data.tgt_lang", "tgt",
    "--data.test_split", "test", "--data.tokenizer", "word",
    "--model.encoder.embedding_size", "16", "--model.encoder.hidden_size", "16", "--model.encoder.dropout", "0",
    "--model.decoder.embedding_size", "16", "--model.decoder.hidden_size", "16", "--model.decoder.output_size", "16",
    "--model.decoder.attention_size", "16", "--model.decoder.dropout", "0",  # no dropout: no per-rank random masks
    "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", "--trainer.max_epochs", "2",
]


def assert_same_validations(ddp, single):
    assert [row[0] for row in ddp] == [row[0] for row in single]  # same number of steps
    for (_, ddp_loss, ddp_bleu), (_, loss, bleu) in zip(ddp, single):
        assert math.isclose(float(ddp_loss), float(loss), rel_tol=1e-5)
        assert math.isclose(float(ddp_bleu), float(bleu), abs_tol=1e-6)


@pytest.fixture(scope="module")
def translation_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    write_reverse_corpus(folder / "data", {"train": 317, "val": 21, "test": 21})  # 21: not divisible by 2
    common = [*TRANSLATION, "--data.data_dir", str(folder / "data")]
    ddp = run_captra("fit", *common, *DDP, "--data.batch_size", "16", "--trainer.default_root_dir", str(folder / "ddp"))
    single = run_captra("fit", *common, "--data.batch_size", "32", "--trainer.default_root_dir", str(folder / "single"))
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert single.returncode == 0, single.stderr[-3000:]
    return folder, common


def with_and_without_ddp(command: str, folder: Path, common: list[str]) -> dict[str, Path]:
    """`captra COMMAND` on the single-process run's last checkpoint, with two processes ("ddp") and with one
    ("single"); the run folder of each."""
    ckpt = str(folder / "single" / "version_0" / "checkpoints" / "last.ckpt")
    runs = {}
    for name, extra in (("ddp", DDP), ("single", [])):
        runs[name] = folder / f"{command}-{name}"
        run = run_captra(command, *common, *extra, "--ckpt_path", ckpt, "--trainer.default_root_dir", str(runs[name]))
        assert run.returncode == 0, run.stderr[-3000:]
    return runs


def test_ddp_translation_training_matches_one_process_with_the_global_batch(translation_runs):
    folder, _ = translation_runs
    assert_same_validations(validation(folder / "ddp"), validation(folder / "single"))


def test_distributed_validation_equals_single_process_validation(translation_runs):
    folder, common = translation_runs
    runs = with_and_without_ddp("validate", folder, common)
    scores = {name: validation(run)[0][1:] for name, run in runs.items()}
    assert float(scores["ddp"][1]) == float(scores["single"][1])  # BLEU: every sentence decoded exactly once
    assert math.isclose(float(scores["ddp"][0]), float(scores["single"][0]), rel_tol=1e-6)


def test_ddp_captioning_training_matches_one_process_with_the_global_batch(tmp_path):
    """... and the ranks compute the feature cache together, each its share of the images, into the cache one
    process computes."""
    write_shapes_dataset(tmp_path / "data")
    common = [
        "-c", "configs/captioning/base.yaml", "--data.data_dir", str(tmp_path / "data"),
        "--data.min_freq", "1", "--data.num_workers", "0",
        "--data.eval_batch_size", "4", "--model.encoder.backbone", "timm:test_efficientnet",
        "--model.encoder.weights", "random", "--model.decoder.embedding_size", "16", "--model.decoder.hidden_size", "16",
        "--model.decoder.output_size", "16", "--model.decoder.attention_size", "16", "--model.decoder.dropout", "0",
        "--model.optimizer.lr", "0.01", "--trainer.max_epochs", "4", "--trainer.check_val_every_n_epoch", "2",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
    ]
    cache = ["--data.cache_dir", str(tmp_path / "cache")]
    ddp = run_captra("fit", *common, *DDP, *cache, "--data.batch_size", "3", "--trainer.default_root_dir", str(tmp_path / "ddp"))
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "rank 0 computes the CNN features of images 0-3 of 9 with 1 other process" in ddp.stderr
    assert "rank 1 computes the CNN features of images 4-8 of 9 with 1 other process" in ddp.stderr
    single = run_captra("fit", *common, *cache, "--data.batch_size", "6", "--trainer.default_root_dir", str(tmp_path / "single"))
    assert single.returncode == 0, single.stderr[-3000:]
    alone = run_captra("prepare", *common, "--data.cache_dir", str(tmp_path / "cache-alone"))  # one process computes them
    assert alone.returncode == 0 and "features: " in alone.stdout, alone.stderr[-3000:]
    (together,) = (tmp_path / "cache" / "features").glob("*.npy")  # the splits share the nine pictures: one cache
    (by_one,) = (tmp_path / "cache-alone" / "features").glob("*.npy")
    assert together.name == by_one.name and not list(together.parent.glob("*partial*"))
    # equal up to one float16 rounding step (a DDP rank computes with one thread, one process with two)
    a, b = np.load(together), np.load(by_one)
    assert np.all(np.abs(a - b) <= np.spacing(np.maximum(np.abs(a), np.abs(b)))) and np.mean(a == b) > 0.99
    assert_same_validations(validation(tmp_path / "ddp"), validation(tmp_path / "single"))
    cider = [validation(tmp_path / run, metric="val/cider") for run in ("ddp", "single")]
    assert_same_validations(*cider)  # every rank scores the gathered captions: CIDEr-D as one process


def test_distributed_predict_writes_the_predictions_one_process_writes(translation_runs):
    folder, common = translation_runs
    runs = with_and_without_ddp("predict", folder, common)
    written = {name: (run / "version_0" / "predictions.tsv").read_text() for name, run in runs.items()}
    assert written["ddp"] == written["single"] and len(written["single"].splitlines()) == 1 + 21  # 21 test lines, once
