"""Training speed logging: exact rates from a fake clock, validation time excluded."""

from types import SimpleNamespace

import torch

import captra.common.training.throughput as throughput_module
from captra.common.training.throughput import ThroughputLogger
from captra.common.text.vocab import PAD_ID


class RecordingModule:
    def __init__(self):
        self.logged = []

    def log(self, name, value, **options):
        self.logged.append((name, value))


def fake_trainer(world_size=1):
    return SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")), world_size=world_size,
                           log_every_n_steps=2, global_step=0)


def batch(tokens_per_row: list[int]) -> dict:
    """Targets `<s> y_1 .. y_n` padded: row i has tokens_per_row[i] target tokens after `<s>`."""
    width = max(tokens_per_row) + 1
    tgt = torch.full((len(tokens_per_row), width), PAD_ID)
    for row, count in enumerate(tokens_per_row):
        tgt[row, : count + 1] = 5
    return {"tgt": tgt}


def test_rates_over_the_logged_steps_exclude_validation_and_scale_with_the_world(monkeypatch):
    clock = iter([10.0, 10.5, 11.5, 14.0, 14.5])  # start, pause, resume, end of window 1, start of window 2
    monkeypatch.setattr(throughput_module.time, "perf_counter", lambda: next(clock))
    module, trainer = RecordingModule(), fake_trainer(world_size=2)
    callback = ThroughputLogger()
    callback.on_train_batch_start(trainer, module, None, 0)  # t = 10.0
    trainer.global_step = 1
    callback.on_train_batch_end(trainer, module, None, batch([3, 5]), 0)  # 8 tokens, 2 examples; no row at step 1
    callback.on_validation_start(trainer, module)  # t = 10.5
    callback.on_validation_end(trainer, module)  # t = 11.5: one second of validation taken out
    callback.on_train_batch_start(trainer, module, None, 1)
    trainer.global_step = 2
    callback.on_train_batch_end(trainer, module, None, batch([4, 4, 2]), 1)  # t = 14.0: 3 s of training
    assert module.logged == [("train/tokens_per_s", 18 * 2 / 3.0), ("train/examples_per_s", 5 * 2 / 3.0)]
    callback.on_train_batch_start(trainer, module, None, 2)  # t = 14.5: a new window
    trainer.global_step = 3
    callback.on_train_batch_end(trainer, module, None, batch([1]), 2)
    assert len(module.logged) == 2  # step 3 writes no row


def test_a_batch_that_only_accumulates_gradients_writes_no_row(monkeypatch):
    monkeypatch.setattr(throughput_module.time, "perf_counter", iter([0.0, 2.0, 3.0]).__next__)
    module, trainer = RecordingModule(), fake_trainer()
    trainer.global_step = 2  # a multiple of log_every_n_steps, but this batch makes no optimizer step
    callback = ThroughputLogger()
    callback.on_train_batch_start(trainer, module, None, 0)
    callback.on_train_batch_end(trainer, module, None, batch([3]), 0)
    assert module.logged == []
    callback.on_train_batch_start(trainer, module, None, 1)
    trainer.global_step = 3
    callback.on_train_batch_end(trainer, module, None, batch([3]), 1)
    trainer.global_step = 4
    callback.on_train_batch_start(trainer, module, None, 2)
    callback.on_train_batch_end(trainer, module, None, batch([3]), 2)  # started at 4, still 4: accumulating
    assert module.logged == []
