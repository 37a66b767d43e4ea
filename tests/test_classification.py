"""The classification task through the registry only: a tiny 3-class folder of `{split}.txt` goes through
`captra fit` -> `captra test` -> `captra classify` -> `captra report` (two checkpoints: the paired bootstrap);
its scores are scikit-learn's, its poolings ignore padding, and bad input is named by file and line."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from captra.common.checkpoints.loading import load_module
from captra.common.cli.main import main, run_lightning
from captra.common.nn.memory import Memory, padding_mask
from captra.common.text.files import DataError
from captra.common.text.vocab import PAD_ID, UNK_ID
from captra.classification.classify import classify_ids
from captra.classification.data import SentenceClassificationDataModule
from captra.classification.metrics import paired_bootstrap, scores
from captra.classification.pooling import build_pooling

CUES = {0: "awful", 1: "fine", 2: "great"}  # the word that decides each example's class
FILLER = "the a film movie story plot actors was is really quite very and but".split()


def sentences(count: int, seed: int, noise: float = 0.0) -> list[str]:
    """`count` lines of classes 0, 1, 2 in turn, each with its class's cue word (with probability `noise` another
    class's: a label no model can get right, so that scores are below 100)."""
    rng = random.Random(seed)
    lines = []
    for index in range(count):
        label = index % 3
        words = rng.choices(FILLER, k=rng.randint(2, 8))
        cue = (label + rng.randint(1, 2)) % 3 if rng.random() < noise else label
        words.insert(rng.randrange(len(words) + 1), CUES[cue])
        lines.append(f"{label} {' '.join(words)}")
    return lines


def write_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for seed, (split, count, noise) in enumerate((("train", 150, 0.0), ("dev", 30, 0.0), ("test", 30, 0.3))):
        (folder / f"{split}.txt").write_text("\n".join(sentences(count, seed, noise)) + "\n", encoding="utf-8")
    return folder


def fit_args(data: Path, root: Path, *extra: str) -> list[str]:
    return ["fit", "-c", "configs/classification/base.yaml", "--data.data_dir", str(data),
            "--data.file_pattern", "{split}.txt", "--data.label_names", "[bad, ok, good]", "--data.batch_size", "10",
            "--model.encoder.embedding_size", "16", "--model.encoder.hidden_size", "12", "--model.encoder.dropout", "0.0",
            "--model.classifier.dropout", "0.0", "--model.classifier.attention_size", "8", "--model.optimizer.lr", "0.02",
            "--trainer.max_epochs", "5", "--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu", *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(data folder, max-pooling run, attention-pooling run)."""
    root = tmp_path_factory.mktemp("classification")
    data = write_folder(root / "data")
    max_run = run_lightning(fit_args(data, root / "max"))
    attention_run = run_lightning(fit_args(data, root / "attention", "--model.classifier.pooling", "attention"))
    return data, max_run, attention_run


def best(cli) -> str:
    return cli.trainer.checkpoint_callback.best_model_path


def run_command(capsys, *args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8"))))
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_fit_learns_the_cue_word_and_selects_by_validation_accuracy(trained):
    _, max_run, attention_run = trained
    for run in (max_run, attention_run):
        callback = run.trainer.checkpoint_callback
        assert callback.mode == "max" and callback.monitor == "val/accuracy"
        assert float(callback.best_model_score) >= 90.0  # three classes: chance is 33 %
        checkpoint = torch.load(best(run), map_location="cpu", weights_only=True)
        assert checkpoint["captra"]["task"] == "classification"
        assert checkpoint["captra"]["text"]["label"]["vocab"][4:] == ["bad", "ok", "good"]


def test_captra_test_scores_equal_scikit_learn_on_the_same_predictions(trained):
    data, max_run, _ = trained
    tested = run_lightning(["test", *fit_args(data, data.parent / "test-run")[1:], "--ckpt_path", best(max_run)])
    logged = {key: float(value) for key, value in tested.trainer.callback_metrics.items()}
    module = load_module(best(max_run), task="classification")
    lines = (data / "test.txt").read_text(encoding="utf-8").splitlines()
    gold = [int(line.split()[0]) for line in lines]
    encoded = [module.texts["src"].encode(line.split(None, 1)[1]) for line in lines]
    predicted = [int(np.argmax(p)) for p, _ in classify_ids(module, encoded, 7, torch.device("cpu"))]
    assert 40 < logged["test/accuracy"] < 100  # the noisy labels of the test split
    assert logged["test/accuracy"] == pytest.approx(100 * accuracy_score(gold, predicted))
    assert logged["test/macro_f1"] == pytest.approx(100 * f1_score(gold, predicted, average="macro"))


def test_scores_by_hand():
    # class 0: F1 1; class 1: never right, F1 0; class 2: precision 1/2, recall 1/2, F1 1/2 -> macro 50
    assert scores([0, 1, 2, 2], [0, 2, 2, 1]) == {"accuracy": 50.0, "macro_f1": 50.0}


def test_captra_classify_prints_the_class_and_every_probability(trained, capsys, monkeypatch, tmp_path):
    _, max_run, _ = trained
    code, out, err = run_command(capsys, "classify", "--ckpt", best(max_run), "--header", "--batch-size", "2",
                                 stdin="the film was great\nawful plot\nzzzunseen fine movie\n", monkeypatch=monkeypatch)
    assert code == 0, err
    rows = [line.split("\t") for line in out.splitlines()]
    assert rows[0] == ["class", "p(bad)", "p(ok)", "p(good)"]
    assert [row[0] for row in rows[1:]] == ["good", "bad", "ok"]  # the unseen word is <unk>, not a crash
    for row in rows[1:]:
        probabilities = [float(p) for p in row[1:]]
        assert sum(probabilities) == pytest.approx(1.0, abs=2e-4)
        assert ["bad", "ok", "good"][int(np.argmax(probabilities))] == row[0]
    (tmp_path / "in.txt").write_text("great film\n\nawful\n", encoding="utf-8")
    code, out, err = run_command(capsys, "classify", "--ckpt", best(max_run), "--input", str(tmp_path / "in.txt"))
    assert code == 2 and f"{tmp_path / 'in.txt'}:2: empty line: nothing to classify" in err and out == ""


def test_captra_report_of_two_checkpoints_has_the_bootstrap_and_the_attention_weights(trained, tmp_path):
    _, max_run, attention_run = trained
    out = tmp_path / "report"
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--ckpt", best(attention_run), "--ckpt", best(max_run), "--split", "test", "--out", str(out),
              "--device", "cpu"])
    assert exit_info.value.code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "classification" and metrics["split"] == "test" and len(metrics["checkpoints"]) == 2
    report = (out / "report.md").read_text()
    for heading in ("## Confusion matrix", "## Precision and recall per class", "## Accuracy by input length",
                    "## Attention pooling: the weight of every word", "## Paired bootstrap", "| macro-F1 (%) |"):
        assert heading in report
    accuracies = [c["scores"]["accuracy"] for c in metrics["checkpoints"]]
    bootstrap = report.split("## Paired bootstrap")[1]
    assert f"| {accuracies[0]:.2f} |" in bootstrap and f"| {accuracies[1]:.2f} |" in bootstrap
    assert (out / "accuracy_by_length.png").is_file() or "accuracy_by_length.png" in report


def test_bad_lines_are_named_by_file_and_line(tmp_path):
    folder = write_folder(tmp_path / "data")
    lines = (folder / "train.txt").read_text(encoding="utf-8").splitlines()
    for bad, message in (("x good film", r"train.txt:3: label 'x' is not a class number"),
                         ("-1 good film", r"train.txt:3: label '-1' is not a class number"),
                         ("2", r"train.txt:3: label 2 without a sentence")):
        (folder / "train.txt").write_text("\n".join([*lines[:2], bad, *lines[3:]]) + "\n", encoding="utf-8")
        with pytest.raises(DataError, match=message):
            SentenceClassificationDataModule(str(folder), "{split}.txt").setup("fit")
    (folder / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "dev.txt").write_text("7 a great film\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dev.txt:1: class 7 is not among the training classes 0 .. 2"):
        SentenceClassificationDataModule(str(folder), "{split}.txt").setup("fit")


def test_unknown_test_words_become_unk_and_batches_have_the_documented_shapes(tmp_path):
    folder = write_folder(tmp_path / "data")
    (folder / "test.txt").write_text("2 zzz great qqq\n0 awful\n", encoding="utf-8")
    data = SentenceClassificationDataModule(str(folder), "{split}.txt", batch_size=4)
    data.setup("test")
    batch = data.datasets["test"].__getitems__([0, 1])
    assert batch["src"].shape == (2, 3) and batch["src_lengths"].tolist() == [3, 1]
    assert batch["label"].tolist() == [2, 0] and batch["ids"].tolist() == [0, 1]
    assert batch["src"][0, 0] == UNK_ID and batch["src"][0, 2] == UNK_ID and batch["src"][0, 1] != UNK_ID
    assert data.text["label"]["vocab"][4:] == ["0", "1", "2"]  # no label names: the class numbers


def test_word_dropout_reads_words_as_unk_in_training_only(tmp_path):
    from captra.classification.model import ClassificationModule

    data = SentenceClassificationDataModule(str(write_folder(tmp_path / "data")), "{split}.txt", batch_size=64)
    data.setup("fit")
    module = ClassificationModule(text=data.text, word_dropout=0.5)
    seen = []
    module.forward = lambda batch: (seen.append(batch["src"]), (torch.zeros(len(batch["label"]), 3), None))[1]
    batch = data.datasets["train"].__getitems__(list(range(64)))
    torch.manual_seed(0)
    module.training_step(batch, 0)
    src, dropped = batch["src"], seen[0]
    real = src != PAD_ID
    assert dropped[~real].eq(PAD_ID).all()  # padding stays padding
    changed = (dropped != src)[real]
    assert dropped[real][changed].eq(UNK_ID).all() and 0.4 < changed.float().mean() < 0.6
    module.evaluation_step(batch)
    assert seen[1].equal(src)  # evaluation reads every word


@pytest.mark.parametrize("name", ["last", "mean", "max", "attention"])
def test_poolings_ignore_padding(name):
    torch.manual_seed(0)
    lengths = torch.tensor([3, 1])
    states = torch.randn(2, 4, 6)
    states[0, 3:], states[1, 1:] = 1e3, 1e3  # padding: any leak shows
    memory = Memory(states, padding_mask(lengths, 4), summary=torch.randn(2, 6))
    pooling = build_pooling(name, 6, 5)
    pooled, weights = pooling(memory)
    alone, _ = pooling(Memory(states[1:, :1], padding_mask(lengths[1:], 1), memory.summary[1:]))
    assert pooled.abs().max() < 100 and torch.allclose(pooled[1:], alone, atol=1e-6)
    expected = {"mean": states[0, :3].mean(0), "max": states[0, :3].max(0).values, "last": memory.summary[0]}
    if name in expected:
        assert torch.allclose(pooled[0], expected[name]) and weights is None
    else:
        assert torch.allclose(weights.sum(1), torch.ones(2)) and weights[0, 3] == 0 and weights[1, 1:].eq(0).all()
        assert torch.allclose(pooled[0], (weights[0, :3, None] * states[0, :3]).sum(0), atol=1e-5)


def test_paired_bootstrap_is_seeded_and_separates_a_better_system():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 2, 400)
    weak = np.where(rng.random(400) < 0.7, gold, 1 - gold)  # about 70 % right
    strong = np.where(rng.random(400) < 0.9, gold, 1 - gold)  # about 90 % right
    test = paired_bootstrap(gold, weak, strong, resamples=500, seed=3)
    assert test == paired_bootstrap(gold, weak, strong, resamples=500, seed=3)
    assert test["accuracy"] == [pytest.approx(100 * np.mean(weak == gold)), pytest.approx(100 * np.mean(strong == gold))]
    assert test["difference"] == pytest.approx(test["accuracy"][1] - test["accuracy"][0])
    assert test["p_value"] < 0.01 and test["interval"][0][0] < test["accuracy"][0] < test["interval"][0][1]
    same = paired_bootstrap(gold, weak, weak, resamples=200)
    assert same["difference"] == 0.0 and same["p_value"] == 1.0
    with pytest.raises(ValueError, match="3 and 2 predictions of 3 examples"):
        paired_bootstrap([0, 1, 1], [0, 1, 1], [0, 1])


def test_captra_predict_writes_each_test_example_s_class_name(trained):
    data, max_run, _ = trained
    predicted = run_lightning(["predict", *fit_args(data, data.parent / "predict-run")[1:], "--ckpt_path", best(max_run)])
    rows = (Path(predicted.trainer.log_dir) / "predictions.tsv").read_text(encoding="utf-8").splitlines()
    module = load_module(best(max_run), task="classification")
    lines = (data / "test.txt").read_text(encoding="utf-8").splitlines()
    encoded = [module.texts["src"].encode(line.split(None, 1)[1]) for line in lines]
    expected = [module.classes[int(np.argmax(p))] for p, _ in classify_ids(module, encoded, 64, torch.device("cpu"))]
    assert rows == ["example\thypothesis", *(f"{n}\t{name}" for n, name in enumerate(expected))]


def test_the_classify_endpoint_answers_as_the_command_and_refuses_what_a_classifier_lacks(trained):
    from fastapi.testclient import TestClient

    from captra.common.serve.app import create_app
    from captra.common.serve.limits import Batching, Limits
    from captra.common.serve.models import load_served

    _, max_run, attention_run = trained
    cpu = torch.device("cpu")
    served = [load_served("max", [best(max_run)], cpu, None), load_served("attention", [best(attention_run)], cpu, None)]
    sentences = ["the film was great", "awful plot", "zzzunseen fine movie"]
    with TestClient(create_app(served, Limits(), Batching(max_batch=4, max_wait_ms=5)),
                    raise_server_exceptions=False) as client:
        cards = {card["name"]: card for card in client.get("/v1/models").json()["models"]}
        assert cards["max"]["route"] == "/v1/classify" and cards["max"]["search"] is None
        assert cards["max"]["classes"] == ["bad", "ok", "good"] and not cards["max"]["attention"] and cards["attention"]["attention"]
        answer = client.post("/v1/classify?model=attention", json={"text": sentences, "n_best": 2, "attention": True})
        assert answer.status_code == 200, answer.text
        module = served[1].module
        offline = classify_ids(module, [module.texts["src"].encode(s) for s in sentences], 64, cpu)
        for result, (probabilities, weights) in zip(answer.json()["results"], offline):
            assert list(result["probabilities"].values()) == pytest.approx(probabilities, abs=1e-6)
            ranked = sorted(range(3), key=lambda k: -probabilities[k])[:2]
            assert [o["text"] for o in result["outputs"]] == [module.classes[k] for k in ranked]
            assert result["attention"]["weights"][0] == pytest.approx(weights, abs=1e-4)
            assert len(result["attention"]["input_tokens"]) == len(weights)
        assert answer.json()["results"][2]["attention"]["input_tokens"][0] == "<unk>"
        refused = {"beam": client.post("/v1/classify", json={"text": ["great"], "beam": 3}),
                   "attention": client.post("/v1/classify?model=max", json={"text": ["great"], "attention": True}),
                   "empty": client.post("/v1/classify", json={"text": ["  "]})}
        assert all(r.status_code == 422 for r in refused.values())
        assert "a classifier has no search" in refused["beam"].json()["error"]
        assert "pools its states by max: it has no attention" in refused["attention"].json()["error"]
        assert "text[0] is empty" in refused["empty"].json()["error"]
        assert client.post("/v1/classify", json={"text": ["great"]}).json()["results"][0]["outputs"][0]["text"] == "good"
