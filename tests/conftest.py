"""Fixtures shared by several test files."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.helpers import run_captra, write_reverse_corpus
from tests.test_self_critical import TRANSLATION


@pytest.fixture(scope="session")
def two_checkpoints(tmp_path_factory) -> tuple[Path, list[Path]]:
    """A tiny reverse-task run kept with `save_top_k 2`: its folder (data in `data/`) and its two best checkpoints."""
    folder = tmp_path_factory.mktemp("two_checkpoints")
    write_reverse_corpus(folder / "data", {"train": 160, "val": 10, "test": 10})
    fit = run_captra("fit", *TRANSLATION, "--data.data_dir", str(folder / "data"), "--trainer.max_epochs", "2",
                     "--trainer.default_root_dir", str(folder / "run"), "--checkpoint.save_top_k", "2")
    assert fit.returncode == 0, fit.stderr[-2000:]
    best = sorted((folder / "run" / "version_0" / "checkpoints").glob("best-*.ckpt"))
    assert len(best) == 2  # the two best validations are kept
    return folder, best


@pytest.fixture(scope="session")
def tiny_captioner(tmp_path_factory) -> Path:
    """A captioning checkpoint (Show, Attend and Tell, 3 epochs on the synthetic shapes) and its data in `data/`:
    the checkpoint's path."""
    from captra.common.cli.main import run_lightning
    from tests.helpers import write_shapes_dataset
    from tests.test_captioning_end_to_end import BASE, fit_args

    folder = tmp_path_factory.mktemp("tiny_captioner")
    write_shapes_dataset(folder / "data")
    run_lightning(fit_args(folder / "data", folder / "run", BASE, "--trainer.max_epochs", "3",
                           "--trainer.check_val_every_n_epoch", "3"))
    return folder / "run" / "version_0" / "checkpoints" / "last.ckpt"


def pytest_configure(config) -> None:
    """Prepared corpora and feature caches of the tests go to a folder of this test session (the default cache
    folder is ~/.cache/captra); processes the tests start inherit it."""
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="captra-tests-cache-")


def pytest_unconfigure(config) -> None:
    shutil.rmtree(os.environ["XDG_CACHE_HOME"], ignore_errors=True)
