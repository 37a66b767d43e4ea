"""One source for the metric that selects checkpoints and its direction: the task's main metric, or model.monitor;
checkpoint selection, early stopping, the checkpoint's file name and the plateau schedule follow it."""

from pathlib import Path

import pytest
import torch
import yaml

from captra.common.training.selection import Selection, metric_mode, selection_for
from tests.helpers import run_captra, validation, write_reverse_corpus
from tests.test_self_critical import TRANSLATION


def test_each_task_selects_by_its_main_metric_and_lower_is_better_for_losses_and_error_rates():
    assert selection_for("translation") == Selection("val/bleu", "max")
    assert selection_for("captioning") == Selection("val/cider", "max")
    assert selection_for("translation", "val/loss") == Selection("val/loss", "min")
    assert [metric_mode("translation", m) for m in ("val/ppl", "val/ter", "val/chrf")] == ["min", "min", "max"]
    assert metric_mode("captioning", "val/bad_endings") == "min"
    assert selection_for("translation").checkpoint_filename == "best-epoch{epoch:02d}-step{step}-bleu{val/bleu:.2f}"
    with pytest.raises(ValueError, match="model.monitor 'train/loss': not a validation metric of the translation task; "
                                         "one of val/bleu, val/bleu_lc, val/bleu_tok_lc, val/chrf, val/ter, val/loss, val/ppl"):
        selection_for("translation", "train/loss")


def test_a_run_selected_by_the_lowest_validation_loss_keeps_that_epoch(tmp_path):
    write_reverse_corpus(tmp_path / "data", {"train": 160, "val": 20, "test": 10})
    run = run_captra("fit", *TRANSLATION, "--data.data_dir", str(tmp_path / "data"), "--trainer.default_root_dir",
                     str(tmp_path / "run"), "--trainer.max_epochs", "5", "--model.monitor", "val/loss",
                     "--model.optimizer.lr", "0.03")
    assert run.returncode == 0, run.stderr[-2000:]
    losses = [float(loss) for _, loss, _ in validation(tmp_path / "run")]
    lowest, highest = losses.index(min(losses)), losses.index(max(losses))
    assert lowest != highest
    (best,) = (tmp_path / "run/version_0/checkpoints").glob("best-*.ckpt")
    assert best.name.startswith(f"best-epoch{lowest:02d}-") and best.name.endswith(f"-loss{min(losses):.2f}.ckpt")
    last = torch.load(tmp_path / "run/version_0/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    callbacks = " ".join(last["callbacks"])
    assert "ModelCheckpoint{'monitor': 'val/loss', 'mode': 'min'" in callbacks
    assert "EarlyStopping{'monitor': 'val/loss', 'mode': 'min'}" in callbacks
    (schedule,) = last["lr_schedulers"]
    assert schedule["mode"] == "min" and schedule["best"] == pytest.approx(min(losses), rel=1e-6)
    saved = yaml.safe_load((tmp_path / "run/version_0/config.yaml").read_text())  # rerun with another monitor: all move
    assert saved["model"]["init_args"]["monitor"] == "val/loss"
    assert [saved["checkpoint"][key] for key in ("monitor", "mode", "filename")] == ["auto", "auto", "auto"]
    assert [saved["early_stopping"][key] for key in ("monitor", "mode")] == ["auto", "auto"]


def test_a_monitor_that_is_not_a_validation_metric_is_refused_before_training(tmp_path):
    write_reverse_corpus(tmp_path / "data", {"train": 32, "val": 4, "test": 4})
    run = run_captra("fit", *TRANSLATION, "--data.data_dir", str(tmp_path / "data"), "--trainer.default_root_dir",
                     str(tmp_path / "run"), "--trainer.max_epochs", "1", "--model.monitor", "val/meteor")
    assert run.returncode != 0
    assert "model.monitor 'val/meteor': not a validation metric of the translation task; one of val/bleu" in run.stderr
    assert not (tmp_path / "run").exists()  # refused before anything ran
