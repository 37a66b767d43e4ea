"""A run killed with SIGKILL in the middle of an epoch and resumed with `--ckpt_path last` ends exactly
like an uninterrupted run: model, optimizer, scheduler, loop position, batch order and RNG states."""

import subprocess
from pathlib import Path

from tests.helpers import run_captra, validation, write_reverse_corpus

ARGS = [
    "-c", "configs/translation/base.yaml", "--data.src_lang", "src", "--data.tgt_lang", "tgt",
    "--data.test_split", "test", "--data.tokenizer", "word", "--data.batch_size", "32",
    "--model.encoder.embedding_size", "16", "--model.encoder.hidden_size", "16", "--model.decoder.embedding_size", "16",
    "--model.decoder.hidden_size", "16", "--model.decoder.output_size", "16", "--model.decoder.attention_size", "16",
    "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", "--trainer.max_epochs", "3",
    "--step_checkpoint.every_n_train_steps", "4",  # last.ckpt every 4 steps: step 12 is mid-epoch (10 per epoch)
]


def captra_fit(data: Path, root: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_captra("fit", *ARGS, "--data.data_dir", str(data), "--trainer.default_root_dir", str(root), *extra)


def test_a_run_killed_mid_epoch_resumes_to_the_same_metrics(tmp_path):
    write_reverse_corpus(tmp_path / "data", {"train": 320, "val": 20, "test": 20})
    full = captra_fit(tmp_path / "data", tmp_path / "full")
    assert full.returncode == 0, full.stderr[-2000:]

    killed = captra_fit(tmp_path / "data", tmp_path / "killed", "--trainer.callbacks+=tests.helpers.KillAtStep",
                        "--trainer.callbacks.step", "14")
    assert killed.returncode == -9  # SIGKILL after step 14; last.ckpt holds step 12
    resumed = captra_fit(tmp_path / "data", tmp_path / "killed", "--ckpt_path", "last")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stderr and "version_0/checkpoints/last.ckpt" in resumed.stderr

    expected = validation(tmp_path / "full")
    assert [row[0] for row in expected] == ["9", "19", "29"]
    assert validation(tmp_path / "killed") == expected  # bit-identical, and metrics.csv reads as one run
    steps = [int(row.split(",")[1]) for row in (tmp_path / "killed/version_0/metrics.csv").read_text().splitlines()[1:]]
    assert steps == sorted(steps)  # what the killed run logged after its checkpoint was dropped


def test_ckpt_path_last_without_a_previous_run_starts_fresh(tmp_path):
    write_reverse_corpus(tmp_path / "data", {"train": 40, "val": 4, "test": 4})
    run = captra_fit(tmp_path / "data", tmp_path / "new", "--ckpt_path", "last", "--trainer.max_epochs", "1")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "no " in run.stderr and "starting a new run" in run.stderr
    assert (tmp_path / "new" / "version_0" / "checkpoints" / "last.ckpt").is_file()


def test_the_same_config_and_seed_give_the_same_metrics_and_the_config_is_saved(tmp_path):
    write_reverse_corpus(tmp_path / "data", {"train": 96, "val": 10, "test": 10})
    for name in ("first", "second"):
        run = captra_fit(tmp_path / "data", tmp_path / name, "--trainer.max_epochs", "2", "--trainer.deterministic", "true")
        assert run.returncode == 0, run.stderr[-2000:]
    assert validation(tmp_path / "first") == validation(tmp_path / "second")
    saved = (tmp_path / "first" / "version_0" / "config.yaml").read_text()
    assert "seed_everything: 1234" in saved and "hidden_size: 16" in saved
