"""A tiny model learns to reverse sequences through the real `captra fit`, then serves `captra translate`."""

import csv
import io
import sys
from pathlib import Path

import pytest
import torch

from captra.common.checkpoints.loading import CheckpointError, load_module
from captra.common.text.vocab import UNK_ID
from captra.common.cli.main import main, run_lightning
from captra.translation.model import TranslationModule
from captra.common.text.files import read_lines
from tests.helpers import write_reverse_corpus


def fit_args(data_dir: Path, root: Path, *extra: str) -> list[str]:
    return [
        "fit", "-c", "configs/translation/base.yaml",
        "--data.data_dir", str(data_dir), "--data.src_lang", "src", "--data.tgt_lang", "tgt",
        "--data.test_split", "test", "--data.tokenizer", "word", "--data.batch_size", "32",
        "--model.encoder.embedding_size", "32", "--model.encoder.hidden_size", "64", "--model.encoder.dropout", "0.0",
        "--model.decoder.embedding_size", "32", "--model.decoder.hidden_size", "64", "--model.decoder.output_size", "32",
        "--model.decoder.attention_size", "32", "--model.decoder.dropout", "0.0",
        "--model.optimizer.lr", "0.01", "--model.label_smoothing", "0.0", "--model.search.beam_size", "2",
        "--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false", *extra,
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reverse")
    write_reverse_corpus(folder / "data", {"train": 1500, "val": 60, "test": 40})
    cli = run_lightning(fit_args(folder / "data", folder / "run", "--trainer.max_epochs", "12"))
    return folder, cli


def test_a_tiny_model_learns_to_reverse_sequences(trained):
    _, cli = trained
    assert cli.trainer.callback_metrics["val/bleu"] > 90.0
    assert cli.trainer.checkpoint_callback.best_model_score > 90.0


def test_captra_test_scores_the_test_split_with_the_checkpoint(trained):
    folder, _ = trained
    ckpt = folder / "run" / "version_0" / "checkpoints" / "last.ckpt"
    args = fit_args(folder / "data", folder / "test-run")
    cli = run_lightning(["test", *args[1:], "--ckpt_path", str(ckpt)])
    assert cli.trainer.callback_metrics["test/bleu"] > 90.0
    assert cli.model.search_config.beam_size == 2  # from the checkpoint ...
    greedy = run_lightning(["test", *args[1:], "--ckpt_path", str(ckpt), "--model.search.strategy", "greedy",
                            "--model.init_args.search.max_len_b=2"])
    assert (greedy.model.search_config.strategy, greedy.model.search_config.max_len_b) == ("greedy", 2)  # ... or given
    assert greedy.model.encoder_config.hidden_size == cli.model.encoder_config.hidden_size


def test_captra_predict_writes_every_test_line_in_order_as_captra_translate_decodes_it(trained, capsys, monkeypatch):
    folder, _ = trained
    ckpt = folder / "run" / "version_0" / "checkpoints" / "last.ckpt"
    args = fit_args(folder / "data", folder / "predict-run")
    run_lightning(["predict", *args[1:], "--ckpt_path", str(ckpt)])
    lines = (folder / "predict-run" / "version_0" / "predictions.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "example\thypothesis" and [line.split("\t")[0] for line in lines[1:]] == [str(i) for i in range(40)]
    sources = "".join(line + "\n" for line in read_lines(folder / "data" / "test.src.gz"))
    code, out, _ = translate(capsys, monkeypatch, sources, "--ckpt", str(ckpt))
    assert code == 0 and [line.split("\t", 1)[1] for line in lines[1:]] == out.splitlines()  # batched search: the same


def test_the_run_folder_holds_logs_config_and_checkpoints(trained):
    folder, _ = trained
    version = folder / "run" / "version_0"
    assert (version / "metrics.csv").read_text().startswith("epoch,step")
    with open(version / "metrics.csv") as handle:
        speeds = [(float(r["train/tokens_per_s"]), float(r["train/examples_per_s"]))
                  for r in csv.DictReader(handle) if r.get("train/tokens_per_s")]
    assert len(speeds) >= 5  # every log_every_n_steps (50) of the 12 x 47 steps
    assert all(0 < examples < tokens for tokens, examples in speeds)  # targets have 3-8 tokens each
    assert "class_path: captra.translation.model.TranslationModule" in (version / "config.yaml").read_text()
    assert (version / "checkpoints" / "last.ckpt").is_file()
    assert list(version.glob("events.out.tfevents.*"))
    assert len(list((version / "checkpoints").glob("best-*.ckpt"))) == 1


def translate(capsys, monkeypatch, stdin: str, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8"))))
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", *args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_translate_prints_one_line_per_input_in_order(trained, capsys, monkeypatch):
    folder, _ = trained
    ckpt = str(folder / "run" / "version_0" / "checkpoints" / "last.ckpt")
    code, out, _ = translate(capsys, monkeypatch, "a b c d\n\nl k j i h\n \t \ne e f\n", "--ckpt", ckpt, "--beam", "3")
    assert code == 0
    assert out.splitlines() == ["d c b a", "", "h i j k l", "", "f e e"]  # empty and blank lines stay, empty


def test_translate_n_best_and_input_file(trained, capsys, monkeypatch, tmp_path):
    folder, _ = trained
    ckpt = str(folder / "run" / "version_0" / "checkpoints" / "last.ckpt")
    source = tmp_path / "in.txt"
    source.write_text("a b c\ng h i j\n", encoding="utf-8")
    code, out, _ = translate(capsys, monkeypatch, "", "--ckpt", ckpt, "--input", str(source), "--n-best", "2",
                             "--batch-size", "1")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4
    assert lines[0] == "c b a" and lines[2] == "j i h g"
    assert lines[1] != lines[0] and lines[3] != lines[2]


def test_command_line_overrides_reach_the_model(tmp_path):
    write_reverse_corpus(tmp_path / "data", {"train": 50, "val": 10, "test": 10})
    cli = run_lightning(fit_args(tmp_path / "data", tmp_path / "run", "--model.decoder.cell", "gru",
                                 "--model.decoder.attention", "general", "--trainer.fast_dev_run", "1"))
    assert isinstance(cli.model.decoder.cells[0], torch.nn.GRUCell)
    assert type(cli.model.decoder.attention).__name__ == "GeneralAttention"
    assert cli.model.hparams["decoder"]["cell"] == "gru"


def test_training_without_validation_finishes_and_saves_its_weights(tmp_path, capsys):
    write_reverse_corpus(tmp_path / "data", {"train": 100, "val": 10, "test": 10})
    cli = run_lightning(fit_args(tmp_path / "data", tmp_path / "run", "--trainer.limit_val_batches", "0",
                                 "--trainer.max_epochs", "3"))
    assert "validation is off" in capsys.readouterr().err
    checkpoints = tmp_path / "run" / "version_0" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["epoch02-step12.ckpt", "last.ckpt"]
    saved = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert saved["global_step"] == cli.trainer.global_step == 12  # 3 epochs x 4 batches, all trained and saved
    assert torch.equal(saved["state_dict"]["decoder.output.bias"], cli.model.decoder.output.bias.detach())
    assert not [c for c in cli.trainer.callbacks if type(c).__name__ == "EarlyStopping"]
    assert cli.trainer.lr_scheduler_configs == []  # the plateau schedule follows validation: off without it


def test_captra_test_rebuilds_a_checkpoint_whose_class_path_predates_the_captra_namespace(trained, tmp_path):
    folder, _ = trained
    checkpoint = torch.load(folder / "run" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["_class_path"] = "translation.model.TranslationModule"  # as written before 9255ef4
    torch.save(checkpoint, tmp_path / "old.ckpt")
    args = fit_args(folder / "data", tmp_path / "test-run")
    cli = run_lightning(["test", *args[1:], "--ckpt_path", str(tmp_path / "old.ckpt")])
    assert type(cli.model) is TranslationModule and cli.trainer.callback_metrics["test/bleu"] > 90.0


class Exploit:
    """Unpickling this would create a file; weights_only loading must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_that_runs_code_when_unpickled_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    crafted = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "captra": {"task": "translation"}, "payload": Exploit(marker)}, crafted)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_module(crafted)
    assert not marker.exists()


def test_files_that_are_not_captra_checkpoints_get_one_line_errors(trained, tmp_path, capsys):
    folder, _ = trained
    (tmp_path / "notes.txt").write_text("hello")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    ckpt = torch.load(folder / "run" / "version_0" / "checkpoints" / "last.ckpt", weights_only=True)
    ckpt["captra"]["task"] = "captioning"
    torch.save(ckpt, tmp_path / "other_task.ckpt")
    ckpt["captra"]["task"], ckpt["captra"]["format"] = "translation", 99
    torch.save(ckpt, tmp_path / "future.ckpt")
    cases = {
        "missing.ckpt": "no such checkpoint file",
        "notes.txt": "not a PyTorch checkpoint",
        "plain.pt": "not a captra checkpoint",
        "other_task.ckpt": "is a captioning checkpoint, but this command needs a translation checkpoint",
        "future.ckpt": "newer captra",
    }
    for name, message in cases.items():
        with pytest.raises(SystemExit) as exit_info:
            main(["translate", "--ckpt", str(tmp_path / name)])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2
        assert message in err and str(tmp_path / name) in err
        assert len(err.strip().splitlines()) == 1


def test_a_5000_token_line_is_truncated_and_empty_stdin_gives_nothing(trained, capsys, monkeypatch):
    folder, _ = trained
    ckpt = str(folder / "run" / "version_0" / "checkpoints" / "last.ckpt")
    huge = " ".join(["a", "b", "c"] * 1667)  # 5,001 tokens
    # inputs of the lengths the model was trained on (3-8 symbols), so that only order and truncation are tested
    code, out, err = translate(capsys, monkeypatch, f"a b c\n{huge}\nd e f\n", "--ckpt", ckpt, "--beam", "2")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3 and lines[0] == "c b a" and lines[2] == "f e d"
    assert "line 2: 5001 tokens, truncated to 250" in err
    assert 0 < len(lines[1].split()) <= 1.5 * 250 + 10  # the max-length rule bounds the output
    code, out, err = translate(capsys, monkeypatch, "", "--ckpt", ckpt)
    assert (code, out) == (0, "")


def test_unseen_words_and_characters_become_unknown_tokens_not_errors(trained, capsys, monkeypatch):
    folder, _ = trained
    ckpt = str(folder / "run" / "version_0" / "checkpoints" / "last.ckpt")
    code, out, _ = translate(capsys, monkeypatch, "a zebra b\n☃ 北京 \u200b \x07\n", "--ckpt", ckpt)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 2
    words = lines[0].split()
    assert len(words) == 3 and (words[0], words[2]) == ("b", "a")  # "a <unk> b" reversed
    source = load_module(ckpt).texts["src"]
    assert source.encode("a zebra b")[1] == UNK_ID and set(source.encode("☃ 北京")) == {UNK_ID}
