"""The third task through the registry only: a character language model on a tiny text goes through
`captra fit` -> `captra test` -> `captra sample` -> `captra report`, with the state carried across windows."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from captra.common.checkpoints.loading import load_module
from captra.common.cli.main import main, run_lightning
from captra.common.task import get_task
from captra.common.text.vocab import BOS_ID, PAD_ID
from captra.language_model.data import TextStreamDataModule
from captra.language_model.stream import StreamBatchSampler, StreamWindows

SHAKESPEARE = Path(__file__).parent.parent.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"


def tiny_text() -> str:
    """The first 6,000 characters of tiny Shakespeare, or (without the shared data) a repetitive verse."""
    if SHAKESPEARE.is_file():
        return SHAKESPEARE.read_text(encoding="utf-8")[:6000]
    return "".join(f"ROMEO:\nBut soft, what light through yonder window {n % 7} breaks?\n\n" for n in range(90))


def fit_args(data_dir: Path, root: Path, *extra: str) -> list[str]:
    return ["fit", "-c", "configs/language_model/base.yaml", "--data.data_dir", str(data_dir), "--data.file", "text.txt",
            "--data.window", "24", "--data.batch_size", "6", "--data.eval_batch_size", "4",
            "--model.decoder.embedding_size", "16", "--model.decoder.hidden_size", "48", "--model.decoder.num_layers", "1",
            "--model.decoder.output_size", "48", "--model.decoder.dropout", "0.0", "--model.optimizer.lr", "0.01",
            "--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false", *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lm")
    (folder / "data").mkdir()
    (folder / "data" / "text.txt").write_text(tiny_text(), encoding="utf-8")
    cli = run_lightning(fit_args(folder / "data", folder / "run", "--trainer.max_epochs", "4"))
    return folder, cli


def validation_losses(root: Path) -> list[float]:
    with open(root / "version_0" / "metrics.csv", newline="") as handle:
        return [float(row["val/loss"]) for row in csv.DictReader(handle) if row.get("val/loss")]


def test_fit_selects_the_epoch_of_the_lowest_validation_loss_and_learns(trained):
    folder, cli = trained
    losses = validation_losses(folder / "run")
    assert len(losses) == 4 and losses[-1] < losses[0] < math.log(80)  # better than a uniform guess
    best = cli.trainer.checkpoint_callback
    assert best.mode == "min" and float(best.best_model_score) == pytest.approx(min(losses), rel=1e-5)
    assert f"loss{min(losses):.2f}" in Path(best.best_model_path).name
    checkpoint = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
    assert checkpoint["captra"]["task"] == "language_model"
    assert checkpoint["captra"]["text"]["tgt"]["tokenizer"] == {"kind": "char", "lowercase": False}


def test_captra_test_gives_loss_perplexity_and_bits_per_character(trained):
    folder, cli = trained
    ckpt = cli.trainer.checkpoint_callback.best_model_path
    tested = run_lightning(["test", *fit_args(folder / "data", folder / "test-run")[1:], "--ckpt_path", ckpt])
    metrics = {key: float(value) for key, value in tested.trainer.callback_metrics.items()}
    assert metrics["test/loss"] == pytest.approx(min(validation_losses(folder / "run")), rel=1e-5)  # test = val split
    assert metrics["test/ppl"] == pytest.approx(math.exp(metrics["test/loss"]), rel=1e-5)
    assert metrics["test/bpc"] == pytest.approx(metrics["test/loss"] / math.log(2), rel=1e-5)  # characters


def sample(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", *args])
    captured = capsys.readouterr()
    assert exit_info.value.code == 0, captured.err
    return captured.out


def test_captra_sample_prints_the_prompt_and_its_continuation(trained, capsys):
    _, cli = trained
    ckpt = cli.trainer.checkpoint_callback.best_model_path
    first = sample(capsys, "--ckpt", ckpt, "--prompt", "ROMEO:", "--length", "50", "--temperature", "0.8", "--seed", "3")
    assert first.startswith("ROMEO:") and len(first) == len("ROMEO:") + 50 + 1  # + print's line break
    assert sample(capsys, "--ckpt", ckpt, "--prompt", "ROMEO:", "--length", "50", "--temperature", "0.8", "--seed", "3") == first
    assert sample(capsys, "--ckpt", ckpt, "--prompt", "ROMEO:", "--length", "50", "--temperature", "1.5", "--seed", "3") != first
    greedy = sample(capsys, "--ckpt", ckpt, "--prompt", "ROMEO:", "--length", "30", "--strategy", "greedy")
    beam = sample(capsys, "--ckpt", ckpt, "--prompt", "ROMEO:", "--length", "30", "--strategy", "beam", "--beam", "3")
    assert greedy.startswith("ROMEO:") and beam.startswith("ROMEO:") and len(greedy) == len(beam) == 6 + 30 + 1
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--ckpt", ckpt, "--prompt", "Ω", "--length", "5"])
    assert exit_info.value.code == 2 and "--prompt 'Ω': 'Ω' not in the model's vocabulary" in capsys.readouterr().err


def test_captra_report_scores_the_split_and_shows_samples_at_several_temperatures(trained, tmp_path):
    _, cli = trained
    ckpt = cli.trainer.checkpoint_callback.best_model_path
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--ckpt", ckpt, "--split", "test", "--out", str(tmp_path / "report")])
    assert exit_info.value.code == 0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    scores = metrics["checkpoints"][0]["scores"]
    assert metrics["task"] == "language_model" and metrics["split"] == "val"
    assert scores["loss"] == pytest.approx(float(cli.trainer.checkpoint_callback.best_model_score), rel=1e-5)
    assert scores["bpc"] == pytest.approx(scores["loss"] / math.log(2), rel=1e-5)
    report = (tmp_path / "report" / "report.md").read_text()
    for heading in ("## Samples", "### greedy", "### temperature 0.5", "### temperature 0.8", "### temperature 1.0",
                    "| bits per character |"):
        assert heading in report


def test_carried_state_scores_a_stream_as_one_unbroken_sequence(trained):
    """Evaluating window after window with the carried state gives the loss of one pass over each whole row."""
    _, cli = trained
    module = load_module(cli.trainer.checkpoint_callback.best_model_path)
    stream = np.asarray(module.texts["tgt"].encode(tiny_text()[:700]), dtype=np.int64)
    windows = StreamWindows(stream, rows=3, length=16)
    total = 0.0
    with torch.no_grad():
        for indices in StreamBatchSampler(windows, distributed=False):
            batch = windows.__getitems__(indices)
            logits, _ = module(batch)
            total += float(torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch["tgt"][:, 1:],
                                                             ignore_index=PAD_ID, reduction="sum"))
        whole = 0.0
        for part in windows.parts:
            tokens = torch.from_numpy(part).unsqueeze(0)  # (1, N + 1): <s> then the row's tokens
            logits, _ = module({"ids": torch.zeros(1), "tgt": tokens})
            whole += float(torch.nn.functional.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], reduction="sum"))
    assert total == pytest.approx(whole, rel=1e-5)
    module._carried[False] = None
    with torch.no_grad():  # the start state instead of the carried one: a different loss
        cut = sum(float(torch.nn.functional.cross_entropy(
            module({"ids": torch.zeros(len(i)), "tgt": windows.__getitems__(i)["tgt"]})[0].transpose(1, 2),
            windows.__getitems__(i)["tgt"][:, 1:], ignore_index=PAD_ID, reduction="sum"))
            for i in StreamBatchSampler(windows, distributed=False))
    assert abs(cut - whole) > 1e-3 * whole


def test_windows_read_alone_start_from_the_start_state(trained):
    _, cli = trained
    module = load_module(cli.trainer.checkpoint_callback.best_model_path)
    stream = np.asarray(module.texts["tgt"].encode(tiny_text()[:400]), dtype=np.int64)
    alone = StreamWindows(stream, rows=1, length=16, carried=False)
    batch = alone.__getitems__([3, 5])
    assert "window" not in batch
    with torch.no_grad():
        module(StreamWindows(stream, rows=2, length=16).__getitems__([0, 1]))  # leaves a carried state behind
        first, _ = module(batch)
        again, _ = module(batch)
    assert torch.equal(first, again)


def test_windows_predict_every_token_once_and_rows_continue():
    stream = np.arange(10, 10 + 53)
    windows = StreamWindows(stream, rows=4, length=5)
    predicted = []
    for indices in StreamBatchSampler(windows, distributed=False):
        batch = windows.__getitems__(indices)
        tgt = batch["tgt"]
        assert tgt.shape == (4, 6)
        predicted += [int(t) for t in tgt[:, 1:].flatten() if t != PAD_ID]
        assert batch["chars"].tolist() == (tgt[:, 1:] != PAD_ID).sum(1).tolist()
    assert sorted(predicted) == stream.tolist()
    first, second = windows.__getitems__([0, 1])["tgt"]  # row 0: windows 0 and 1
    assert first[0] == BOS_ID and second[0] == first[-1]  # each window starts with the token before it


def test_the_split_is_the_first_90_and_the_last_10_percent(tmp_path):
    (tmp_path / "text.txt").write_text("".join(f"line {n}\n" for n in range(100)), encoding="utf-8")
    data = TextStreamDataModule(data_dir=str(tmp_path), file="text.txt")
    text = (tmp_path / "text.txt").read_text()
    assert data.split_text("train") + data.split_text("val") == text
    assert len(data.split_text("train")) == int(0.9 * len(text)) and data.test_split == "val"
    held_out = TextStreamDataModule(data_dir=str(tmp_path), file="text.txt", val_fraction=0.05, test_fraction=0.05)
    assert held_out.test_split == "test" and held_out.split_text("test") == text[int(0.95 * len(text)):]


def test_the_task_is_registered_with_its_command_and_lower_is_better_selection():
    task = get_task("language_model")
    assert task.command.name == "sample" and task.report is None and task.main_metric == "loss"
    from captra.common.training.selection import selection_for

    assert selection_for("language_model").mode == "min" and selection_for("language_model", "val/accuracy").mode == "max"


def test_a_run_killed_mid_epoch_resumes_with_its_carried_state_to_the_same_weights(tmp_path):
    """Killed at step 14 (last.ckpt of step 10, mid-epoch: 37 windows per row) and resumed, the run ends with the
    uninterrupted run's weights: the state carried into window 11 comes back from the checkpoint."""
    from tests.helpers import run_captra

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "text.txt").write_text(tiny_text(), encoding="utf-8")
    args = [*fit_args(tmp_path / "data", tmp_path / "unused")[1:], "--trainer.max_epochs", "2",
            "--step_checkpoint.every_n_train_steps", "10", "--trainer.callbacks+=tests.helpers.SaveAtTrainEnd"]

    def fit(root: Path, *extra: str):
        return run_captra("fit", *args, "--trainer.default_root_dir", str(root), *extra)

    assert (full := fit(tmp_path / "full")).returncode == 0, full.stderr[-2000:]
    killed = fit(tmp_path / "killed", "--trainer.callbacks+=tests.helpers.KillAtStep", "--trainer.callbacks.step", "14")
    assert killed.returncode == -9
    last = torch.load(tmp_path / "killed/version_0/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 10 and last["captra"]["carried_state"]["hidden"].shape == (6, 1, 48)
    assert (resumed := fit(tmp_path / "killed", "--ckpt_path", "last")).returncode == 0, resumed.stderr[-2000:]
    expected, final = (torch.load(root / "version_0/final.ckpt", map_location="cpu", weights_only=True)["state_dict"]
                       for root in (tmp_path / "full", tmp_path / "killed"))
    assert all(final[name].equal(value) for name, value in expected.items())


def test_captra_prepare_describes_the_splits(tmp_path, capsys):
    (tmp_path / "text.txt").write_text("abc\n" * 250, encoding="utf-8")
    main(["prepare", "-c", "configs/language_model/base.yaml", "--data.data_dir", str(tmp_path), "--data.file", "text.txt"])
    out = capsys.readouterr().out
    assert "char tokens, vocabulary of 8" in out  # 4 specials + a b c and the line break
    assert "train: 900 characters, 900 tokens (1.00 characters per token)" in out and "val: 100 characters" in out


def test_ddp_training_and_validation_match_one_process(tmp_path):
    """Two processes each read half the rows (batch 3 each against 6 in one process): the same loss curve."""
    from tests.helpers import run_captra, validation

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "text.txt").write_text(tiny_text(), encoding="utf-8")
    common = [*fit_args(tmp_path / "data", tmp_path / "unused")[1:], "--trainer.max_epochs", "2"]
    ddp = run_captra("fit", *common, "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy",
                     "ddp", "--data.batch_size", "3", "--trainer.default_root_dir", str(tmp_path / "ddp"))
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = run_captra("fit", *common, "--trainer.default_root_dir", str(tmp_path / "single"))
    assert single.returncode == 0, single.stderr[-3000:]
    ddp_rows, single_rows = (validation(tmp_path / name, metric="val/bpc") for name in ("ddp", "single"))
    assert [row[0] for row in ddp_rows] == [row[0] for row in single_rows]  # the same steps
    for (_, ddp_loss, _), (_, loss, _) in zip(ddp_rows, single_rows):
        assert math.isclose(float(ddp_loss), float(loss), rel_tol=1e-4)


def report_exit(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", *args])
    return exit_info.value.code, capsys.readouterr().err


def test_the_report_scores_int8_weights_and_refuses_data_of_another_vocabulary_or_torchrun(trained, tmp_path, capsys,
                                                                                          monkeypatch):
    folder, cli = trained
    ckpt = cli.trainer.checkpoint_callback.best_model_path
    code, err = report_exit(capsys, "--ckpt", ckpt, "--int8", "force", "--device", "cpu", "--out",
                            str(tmp_path / "int8"))
    assert code == 0, err  # int8 cells cannot take the fused kernel: teacher forcing runs them step by step
    scores = json.loads((tmp_path / "int8" / "metrics.json").read_text())["checkpoints"][0]["scores"]
    assert 0 < abs(scores["loss"] - float(cli.trainer.checkpoint_callback.best_model_score)) < 0.05
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "text.txt").write_text("xyz\n" * 500, encoding="utf-8")
    code, err = report_exit(capsys, "--ckpt", ckpt, "--data-dir", str(tmp_path / "other"), "--out", str(tmp_path / "x"))
    assert code == 2 and "its vocabularies differ from the data module rebuilt from its run's config.yaml's" in err
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, err = report_exit(capsys, "--ckpt", ckpt, "--out", str(tmp_path / "y"))
    assert code == 2 and "scores the split in one process: run captra report without torchrun" in err


def test_the_report_prompt_is_a_line_of_known_tokens(trained):
    from captra.language_model.report import report_prompt

    _, cli = trained
    module = load_module(cli.trainer.checkpoint_callback.best_model_path)
    assert report_prompt(module, "cut line\nΩ unknown\nROMEO:\nmore") == "ROMEO:\n"
    assert report_prompt(module, "only\nΩ\n") == "\n"


def test_small_evaluation_splits_are_cut_into_fewer_rows(tmp_path):
    (tmp_path / "text.txt").write_text("abcdefghij" * 60, encoding="utf-8")  # 600 characters: validation holds 60
    data = TextStreamDataModule(data_dir=str(tmp_path), file="text.txt", eval_batch_size=50, batch_size=4, window=8)
    data.setup("validate")
    assert data.datasets["val"].rows == 30  # two tokens a row at least


def test_a_run_config_naming_an_old_or_unknown_class_is_read_or_falls_back_and_a_data_dir_it_cannot_read_is_refused(
        tmp_path):
    from captra.common.report.split import recorded_class, run_data_module
    from captra.common.text.files import DataError
    from captra.language_model.formal_data import FormalLanguageDataModule

    assert recorded_class("language_model.data.TextStreamDataModule", FormalLanguageDataModule) is TextStreamDataModule
    assert recorded_class("builtins.dict", FormalLanguageDataModule) is FormalLanguageDataModule
    assert recorded_class("nowhere.Data", FormalLanguageDataModule) is FormalLanguageDataModule
    assert recorded_class("captra.language_model.data.TextStreamDataModule", FormalLanguageDataModule) is TextStreamDataModule
    run = tmp_path / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("data:\n  class_path: captra.language_model.formal_data.FormalLanguageDataModule\n"
                                     "  init_args:\n    language: anbncn\n", encoding="utf-8")
    checkpoint = run / "checkpoints" / "best.ckpt"
    assert run_data_module(get_task("language_model"), checkpoint, None).language == "anbncn"
    with pytest.raises(DataError, match=r"--data-dir: the data module of .*best.ckpt \(FormalLanguageDataModule\) reads "
                                        r"no data folder"):
        run_data_module(get_task("language_model"), checkpoint, str(tmp_path))
    (run / "config.yaml").write_text("data:\n  init_args:\n    langauge: anbn\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"best.ckpt: its run's data settings do not fit TextStreamDataModule"):
        run_data_module(get_task("language_model"), checkpoint, None)
