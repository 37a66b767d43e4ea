"""TaskModule serves a task that generates nothing: a many-to-one recurrent classifier built on the base module
alone (no decoder, memory or search) trains, is evaluated exactly, selects checkpoints in its metric's direction
and writes captra checkpoints."""

from __future__ import annotations

from dataclasses import replace

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader

from captra.common import OptimizerConfig, Task, TaskModule, TextPipeline, pad, register
from captra.common import task as task_registry

SEQUENCES = [" ".join(str((n >> bit) & 1) for bit in range(5)) for n in range(32)]  # "0 1 1 0 1", ...


class FirstTokenModule(TaskModule):
    """Reads a token sequence with a GRU and classifies it by its first token (a many-to-one network)."""

    task = "first-token"

    def __init__(self, optimizer: OptimizerConfig = OptimizerConfig(lr=0.03), hidden: int = 16,
                 text: dict[str, dict] | None = None, init_from: str | None = None, monitor: str | None = None) -> None:
        super().__init__(optimizer, text, {"optimizer": optimizer, "hidden": hidden}, init_from, monitor)
        self.embedding = torch.nn.Embedding(len(self.texts["src"].vocab), 8)
        self.rnn = torch.nn.GRU(8, hidden, batch_first=True)
        self.output = torch.nn.Linear(hidden, 2)

    def forward(self, batch: dict) -> torch.Tensor:
        _, state = self.rnn(self.embedding(batch["src"]))  # state: (1, B, H)
        return self.output(state[0])  # (B, 2)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(self(batch), batch["label"])

    def evaluation_step(self, batch: dict) -> None:
        logits = self(batch)
        self.record_loss(float(torch.nn.functional.cross_entropy(logits, batch["label"], reduction="sum")), len(logits))
        self.record_outputs(batch["ids"].tolist(), list(zip(logits.argmax(-1).tolist(), batch["label"].tolist())))

    def evaluation_scores(self, outputs: list[tuple[int, int]]) -> dict[str, float | str]:
        accuracy = 100.0 * sum(predicted == label for predicted, label in outputs) / len(outputs)
        return {"accuracy": accuracy, "error": 100.0 - accuracy}


def loader(pipeline: TextPipeline, shuffle: bool) -> DataLoader:
    examples = [(index, pipeline.encode(text), int(text[0])) for index, text in enumerate(SEQUENCES)]

    def collate(rows):
        return {"ids": torch.tensor([i for i, _, _ in rows]), "src": pad([ids for _, ids, _ in rows]),
                "label": torch.tensor([label for _, _, label in rows])}

    return DataLoader(examples, batch_size=8, shuffle=shuffle, collate_fn=collate)


@pytest.fixture
def first_token_task(monkeypatch):
    monkeypatch.setattr(task_registry, "_registered", {})
    return register(Task("first-token", FirstTokenModule, L.LightningDataModule, "accuracy of the first token",
                         "accuracy", "accuracy", ("accuracy", "error"),
                         lambda hypotheses, references: [0.0] * len(hypotheses), lower_is_better=frozenset({"error"})))


def test_a_classifier_on_the_base_module_trains_and_selects_by_its_lowest_error(first_token_task, tmp_path, capsys):
    pipeline = TextPipeline.build(SEQUENCES, kind="word")
    torch.manual_seed(0)
    module = FirstTokenModule(text={"src": pipeline.to_state()}, monitor="val/error")
    assert (module.selection.metric, module.selection.mode) == ("val/error", "min")
    best = ModelCheckpoint(dirpath=tmp_path, monitor=module.selection.metric, mode=module.selection.mode)
    trainer = L.Trainer(max_epochs=8, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[best], num_sanity_val_steps=0)
    trainer.fit(module, loader(pipeline, shuffle=True), loader(pipeline, shuffle=False))
    logged = trainer.callback_metrics
    assert float(logged["val/accuracy"]) == 100.0 and float(logged["val/error"]) == 0.0
    assert float(logged["val/loss"]) < 0.2 and float(logged["val/ppl"]) == pytest.approx(float(logged["val/loss"].exp()))
    assert float(best.best_model_score) == 0.0  # the lowest error, not the highest
    checkpoint = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
    assert checkpoint["captra"]["task"] == "first-token" and checkpoint["captra"]["text"]["src"] == pipeline.to_state()
    assert checkpoint["lr_schedulers"][0]["mode"] == "min"

    from captra.common.cli.main import inference_commands, main

    assert "first-token" not in inference_commands()  # no command of its own: none is listed
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--ckpt", best.best_model_path, "--split", "test", "--out", str(tmp_path / "report")])
    assert exit_info.value.code == 2
    # no report hooks: the default report scores the split with the module's evaluation, through the run's data module
    assert "no config.yaml beside its run folder to rebuild its data module; pass --data-dir" in capsys.readouterr().err


def test_a_monitored_score_the_validation_does_not_log_is_named(first_token_task, tmp_path):
    from captra.common.training.selection import SelectionError

    pipeline = TextPipeline.build(SEQUENCES, kind="word")
    register(replace(first_token_task, score_names=("accuracy", "error", "f1")))
    module = FirstTokenModule(text={"src": pipeline.to_state()}, monitor="val/f1")  # a score name: accepted
    trainer = L.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        enable_checkpointing=False, num_sanity_val_steps=0)
    with pytest.raises(SelectionError, match=r"model.monitor 'val/f1': this validation did not log it \(it logged "
                                             r"val/loss, val/ppl, val/accuracy, val/error\)"):
        trainer.fit(module, loader(pipeline, shuffle=True), loader(pipeline, shuffle=False))


def test_a_run_stopped_by_an_unlogged_monitor_keeps_its_weights(first_token_task, tmp_path):
    from captra.common.training.selection import SelectionError

    pipeline = TextPipeline.build(SEQUENCES, kind="word")
    register(replace(first_token_task, score_names=("accuracy", "error", "f1")))
    module = FirstTokenModule(text={"src": pipeline.to_state()}, monitor="val/f1")
    trainer = L.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[ModelCheckpoint(dirpath=tmp_path, monitor="val/f1")], num_sanity_val_steps=0)
    with pytest.raises(SelectionError, match=r"the weights trained so far are in .*last.ckpt"):
        trainer.fit(module, loader(pipeline, shuffle=True), loader(pipeline, shuffle=False))
    saved = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=True)
    assert all(saved["state_dict"][name].equal(value) for name, value in module.state_dict().items())
    assert saved["global_step"] == 4  # one epoch of 32 sequences in batches of 8
