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


def read_final(root: Path) -> dict:
    import torch

    return torch.load(root / "version_0" / "final.ckpt", map_location="cpu", weights_only=True)


def test_a_resumed_run_keeps_every_step_of_the_plateau_schedule(tmp_path):
    """Validation flat (a tiny learning rate, patience 0): the schedule halves the rate at every validation after the
    first. A run killed mid-epoch (last.ckpt of step 12) or just after an epoch's validation (last.ckpt of step 10)
    and resumed ends with the uninterrupted run's rate, schedule state and weights (a resume lost a step of the
    schedule: Lightning steps it after the validation's checkpoint, and not in the epoch a resumed run restarts in)."""
    write_reverse_corpus(tmp_path / "data", {"train": 320, "val": 20, "test": 20})
    plateau = ["--model.optimizer.lr", "1e-6", "--model.optimizer.plateau_patience", "0", "--model.optimizer.min_lr", "1e-9",
               "--trainer.max_epochs", "4", "--trainer.callbacks+=tests.helpers.SaveAtTrainEnd"]
    full = captra_fit(tmp_path / "data", tmp_path / "full", *plateau)
    assert full.returncode == 0, full.stderr[-2000:]
    expected = read_final(tmp_path / "full")
    rates = [group["lr"] for group in expected["optimizer_states"][0]["param_groups"]]
    assert rates == [1e-6 / 8] and expected["lr_schedulers"][0]["last_epoch"] == 4  # halved at validations 2, 3, 4
    for kill_at in (14, 11):
        root = tmp_path / f"killed_at_{kill_at}"
        killed = captra_fit(tmp_path / "data", root, *plateau, "--trainer.callbacks+=tests.helpers.KillAtStep",
                            "--trainer.callbacks.step", str(kill_at))
        assert killed.returncode == -9
        resumed = captra_fit(tmp_path / "data", root, *plateau, "--ckpt_path", "last")
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        final = read_final(root)
        assert final["lr_schedulers"] == expected["lr_schedulers"], kill_at
        assert [group["lr"] for group in final["optimizer_states"][0]["param_groups"]] == rates, kill_at
        assert all(final["state_dict"][name].equal(value) for name, value in expected["state_dict"].items()), kill_at
        assert validation(root) == validation(tmp_path / "full")
