"""Faults during training and bad configuration: clear messages, nothing lost."""

import errno
import logging

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import captra.common.checkpoints.atomic as checkpoint_io
from captra.common.checkpoints.loading import CheckpointError, load_module
from captra.common.cli.main import main, run_lightning
from captra.common.text.pipeline import TextPipeline
from captra.common.text.vocab import UNK_ID
from tests.helpers import write_reverse_corpus
from tests.test_translation_end_to_end import fit_args
from captra.translation.model import TranslationModule


def poison_step(monkeypatch, bad_steps: set[int]) -> None:
    """Make the training loss NaN at the given global steps."""
    original = TranslationModule._token_nll

    def nll(self, logits, targets, smoothing):
        value = original(self, logits, targets, smoothing)
        if self.training and self.trainer.global_step in bad_steps:
            return value * float("nan")
        return value

    monkeypatch.setattr(TranslationModule, "_token_nll", nll)


def small_fit(tmp_path, *extra):
    write_reverse_corpus(tmp_path / "data", {"train": 64, "val": 8, "test": 8})
    return run_lightning(fit_args(tmp_path / "data", tmp_path / "run", "--data.batch_size", "16", *extra))


def test_a_nan_loss_stops_the_run_keeping_the_last_good_weights(tmp_path, monkeypatch, caplog):
    poison_step(monkeypatch, {6})  # epoch 1 (4 steps per epoch), after epoch 0's checkpoint
    with caplog.at_level(logging.ERROR):
        cli = small_fit(tmp_path, "--trainer.max_epochs", "5")
    assert "non-finite training loss (nan) at step 6: stopping" in caplog.text
    assert cli.trainer.global_step == 7  # the poisoned batch was the last one (it counts, without an update)
    assert all(torch.isfinite(p).all() for p in cli.model.parameters())
    module = load_module(tmp_path / "run" / "version_0" / "checkpoints" / "last.ckpt")
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_nan_steps_can_be_skipped_instead(tmp_path, monkeypatch, caplog):
    poison_step(monkeypatch, {2, 5})
    with caplog.at_level(logging.WARNING):
        cli = small_fit(tmp_path, "--trainer.max_epochs", "2", "--model.optimizer.on_nonfinite_loss", "skip")
    assert cli.trainer.current_epoch == 2  # ran to the end
    assert "at step 2: step skipped (1 so far)" in caplog.text and "step skipped (2 so far)" in caplog.text
    assert all(torch.isfinite(p).all() for p in cli.model.parameters())


def test_a_run_stopped_before_its_first_validation_still_writes_its_weights(tmp_path):
    cli = small_fit(tmp_path, "--trainer.max_epochs", "3", "--trainer.max_steps", "2")  # 4 steps per epoch
    assert cli.trainer.global_step == 2
    module = load_module(tmp_path / "run" / "version_0" / "checkpoints" / "last.ckpt")
    for saved, trained in zip(module.state_dict().values(), cli.model.state_dict().values()):
        assert torch.equal(saved, trained.cpu())


def test_a_full_disk_while_saving_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    cli = small_fit(tmp_path, "--trainer.max_epochs", "1")
    assert isinstance(cli.trainer.strategy.checkpoint_io, checkpoint_io.AtomicCheckpointIO)
    last = tmp_path / "run" / "version_0" / "checkpoints" / "last.ckpt"
    before = last.read_bytes()

    def full_disk(obj, file):
        file.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_io.torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        cli.trainer.save_checkpoint(last)
    assert last.read_bytes() == before
    assert [p.name for p in last.parent.iterdir() if p.name.endswith(".partial")] == []
    load_module(last)


@pytest.mark.parametrize(
    "override, message",
    [
        (["--model.decoder.hiden_size", "8"], "hiden_size"),
        (["--model.decoder.hidden_size", "many"], "hidden_size"),
        (["--trainer.max_epochz", "1"], "max_epochz"),
    ],
)
def test_unknown_keys_and_wrong_types_in_the_config_are_named(tmp_path, capsys, override, message):
    write_reverse_corpus(tmp_path / "data", {"train": 8, "val": 4, "test": 4})
    with pytest.raises(SystemExit) as exit_info:
        main(fit_args(tmp_path / "data", tmp_path / "run", *override))
    assert exit_info.value.code != 0
    assert message in capsys.readouterr().err


def test_captra_caption_refuses_a_translation_checkpoint(tmp_path, capsys):
    fake = tmp_path / "translation.ckpt"
    torch.save({"state_dict": {}, "captra": {"task": "translation", "format": 1, "text": {}}}, fake)
    with pytest.raises(SystemExit) as exit_info:
        main(["caption", "any.png", "--ckpt", str(fake)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "is a translation checkpoint, but this command needs a captioning checkpoint" in err
    with pytest.raises(CheckpointError):
        load_module(fake, task="captioning")


CORPUS = ["Ein Mann fährt Fahrrad.", "Two dogs play in the snow!", "Zwei Hunde (klein) spielen; 3,5 m.", "ça va? 你好"]
PIPELINES = {
    "word": TextPipeline.build(CORPUS, kind="word"),
    "sentencepiece": TextPipeline.build(CORPUS * 20, kind="sentencepiece", vocab_size=60),
}


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80), kind=st.sampled_from(sorted(PIPELINES)))
def test_fuzz_the_text_pipeline_with_arbitrary_unicode(text, kind):
    """tokenize -> encode -> decode never fails, ids stay in the vocabulary, decoding is stable."""
    pipeline = PIPELINES[kind]
    ids = pipeline.encode(text)
    assert all(0 <= i < len(pipeline.vocab) for i in ids)
    decoded = pipeline.decode(ids)
    assert isinstance(decoded, str)
    if UNK_ID not in ids:
        assert pipeline.encode(decoded) == ids  # what decodes, re-encodes the same
