"""Grapheme-to-phoneme through the registry only: a tiny pronouncing dictionary goes through `captra fit` ->
`captra test` -> `captra pronounce` -> `captra report` and `captra serve`'s endpoint; WER / PER on hand-made cases;
the dictionary's reader and its split by word."""

from __future__ import annotations

import io
import itertools
import json
import random
import sys
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from captra.common.checkpoints.loading import load_module
from captra.common.cli.inference import decoding_config
from captra.common.cli.main import main, run_lightning
from captra.common.serve.app import create_app
from captra.common.serve.limits import Batching, Limits
from captra.common.serve.models import load_served
from captra.common.task import get_task
from captra.common.text.files import DataError
from captra.g2p.data import G2PDataModule
from captra.g2p.lexicon import WordSplit, cmudict_lexicon, read_lexicon, without_stress
from captra.g2p.metrics import error_rates, sentence_scores
from captra.g2p.pronounce import pronounce_ids

CPU = torch.device("cpu")
SOUNDS = {"a": "AE1", "b": "B", "d": "D", "e": "IY0", "k": "K", "o": "OW1", "t": "T"}


def tiny_lexicon() -> str:
    """Words of 2-4 letters pronounced letter by letter (a rule a tiny model learns in a few epochs); words ending
    in "e" have a second pronunciation with a silent e."""
    lines = ["# a tiny pronouncing dictionary in CMUdict's format"]
    for length in (2, 3, 4):
        for letters in itertools.product("abdekot", repeat=length):
            word = "".join(letters)
            if random.Random(word).random() < 0.55:
                continue
            lines.append(f"{word} {' '.join(SOUNDS[letter] for letter in word)}")
            if word.endswith("e"):
                lines.append(f"{word}(2) {' '.join(SOUNDS[letter] for letter in word[:-1])}")
    return "\n".join(lines) + "\n"


# --- metrics on hand-made cases -------------------------------------------------------------------
def test_a_word_is_right_when_it_equals_any_of_its_pronunciations():
    references = [["T AH0 M EY1 T OW2", "T AH0 M AA1 T OW2"], ["K AE1 T"]]
    assert error_rates(["T AH0 M AA1 T OW2", "K AE1 T"], references) == {"wer": 0.0, "per": 0.0}
    rates = error_rates(["T AH0 M AA1 T OW0", "K AE1 T"], references)  # one substitution against the closest
    assert rates["wer"] == 50.0 and rates["per"] == pytest.approx(100 * 1 / (6 + 3))


def test_phoneme_errors_count_insertions_deletions_and_substitutions_against_the_closest_reference():
    references = [["K AE T S", "K AH T"], ["D AO G"]]
    # "K AE T": 1 from both references (a deletion, a substitution): the first in dictionary order counts (4 phonemes)
    rates = error_rates(["K AE T", "D AO G Z"], references)  # + one insertion against "D AO G"
    assert rates["wer"] == 100.0 and rates["per"] == pytest.approx(100 * (1 + 1) / (4 + 3))


def test_an_empty_output_costs_its_whole_reference():
    rates = error_rates(["", "D AO G"], [["K AE T"], ["D AO G"]])
    assert rates["wer"] == 50.0 and rates["per"] == pytest.approx(100 * 3 / 6)
    assert sentence_scores(["", "D AO G", "D AO"], [["K AE T"], ["D AO G"], ["D AO G"]]) == pytest.approx(
        [0.0, 100.0, 100 * (1 - 1 / 3)])
    with pytest.raises(ValueError, match="2 outputs and 1 reference lists"):
        error_rates(["a", "b"], [["a"]])


# --- the dictionary -------------------------------------------------------------------------------
def test_the_reader_joins_variants_and_names_the_file_and_line_of_a_bad_entry(tmp_path):
    path = tmp_path / "lexicon.dict"
    path.write_text("# comment\nread R IY1 D\nread(2) R EH1 D  # the past tense\n\nRED R EH1 D\n", encoding="utf-8")
    assert read_lexicon(path) == {"read": [("R", "IY1", "D"), ("R", "EH1", "D")], "red": [("R", "EH1", "D")]}
    assert without_stress(("R", "IY1", "D")) == ("R", "IY", "D")
    path.write_text("read R IY1 D\nlonely\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"lexicon.dict:2: the word 'lonely' has no phonemes"):
        read_lexicon(path)
    path.write_text("read R IY1 D\nred r eh1 d\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"lexicon.dict:2: 'r' is not an ARPAbet phoneme"):
        read_lexicon(path)


def test_the_split_by_word_keeps_every_pronunciation_of_a_word_together_and_depends_on_the_word_alone():
    lexicon = cmudict_lexicon()
    assert len(lexicon) == 126_052 and sum(len(p) for p in lexicon.values()) == 135_166
    split = WordSplit(0.05, 0.05, seed=0)
    words = {name: split.words(lexicon, name) for name in ("train", "val", "test")}
    assert sum(map(len, words.values())) == len(lexicon) and not set(words["val"]) & set(words["test"])
    for name in ("val", "test"):
        assert abs(len(words[name]) / len(lexicon) - 0.05) < 0.003
    smaller = {word: lexicon[word] for word in list(lexicon)[::3]}
    assert split.words(smaller, "test") == [word for word in words["test"] if word in smaller]
    assert WordSplit(0.05, 0.05, seed=1).words(lexicon, "test") != words["test"]


def test_stress_is_removed_unless_asked_for_and_duplicates_merge(tmp_path):
    (tmp_path / "lexicon.dict").write_text("record R EH1 K ER0 D\nrecord(2) R EH0 K ER1 D\n", encoding="utf-8")
    plain = G2PDataModule(lexicon=str(tmp_path / "lexicon.dict"))
    assert plain.lexicon == {"record": [("R", "EH", "K", "ER", "D")]}
    stressed = G2PDataModule(lexicon=str(tmp_path / "lexicon.dict"), stress=True)
    assert len(stressed.lexicon["record"]) == 2


# --- end to end through the registry --------------------------------------------------------------
def fit_args(lexicon: Path, root: Path, *extra: str) -> list[str]:
    return ["fit", "-c", "configs/g2p/base.yaml", "--data.lexicon", str(lexicon), "--data.stress", "true",
            "--data.val_fraction", "0.1", "--data.test_fraction", "0.1", "--data.batch_size", "16",
            "--model.encoder.embedding_size", "16", "--model.encoder.hidden_size", "32", "--model.encoder.dropout", "0.0",
            "--model.decoder.embedding_size", "16", "--model.decoder.hidden_size", "48", "--model.decoder.attention_size",
            "32", "--model.decoder.output_size", "16", "--model.decoder.dropout", "0.0", "--model.optimizer.lr", "0.01",
            "--model.search.beam_size", "2", "--trainer.default_root_dir", str(root),
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--checkpoint.save_top_k", "2", *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("g2p")
    (folder / "lexicon.dict").write_text(tiny_lexicon(), encoding="utf-8")
    cli = run_lightning(fit_args(folder / "lexicon.dict", folder / "run", "--trainer.max_epochs", "8"))
    return folder, cli


def test_fit_learns_the_rule_and_selects_the_lowest_validation_wer(trained):
    folder, cli = trained
    best = cli.trainer.checkpoint_callback
    assert get_task("g2p").command.name == "pronounce" and best.mode == "min"
    assert float(best.best_model_score) < 20.0  # letter-by-letter pronunciations: most validation words right
    assert "wer" in Path(best.best_model_path).name
    checkpoint = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
    assert checkpoint["captra"]["task"] == "g2p"
    assert checkpoint["captra"]["text"]["src"]["tokenizer"] == {"kind": "char", "lowercase": True}


def test_captra_test_scores_wer_and_per_of_the_test_words(trained):
    folder, cli = trained
    ckpt = cli.trainer.checkpoint_callback.best_model_path
    tested = run_lightning(["test", *fit_args(folder / "lexicon.dict", folder / "test-run")[1:], "--ckpt_path", ckpt])
    metrics = {key: float(value) for key, value in tested.trainer.callback_metrics.items()}
    module = load_module(ckpt)
    data = G2PDataModule(lexicon=str(folder / "lexicon.dict"), stress=True, val_fraction=0.1, test_fraction=0.1)
    words = data.words("test")
    config = module.search_config
    outputs = [nbest[0][0] for nbest in pronounce_ids(module, [module.texts["src"].encode(w) for w in words], config, 7, CPU)]
    expected = error_rates(outputs, [[" ".join(p) for p in data.lexicon[w]] for w in words])
    assert metrics["test/wer"] == pytest.approx(expected["wer"]) and metrics["test/per"] == pytest.approx(expected["per"])
    assert metrics["test/per"] <= metrics["test/wer"]


def pronounce(capsys, monkeypatch, *args: str, stdin: str | None = None) -> tuple[str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8"))))
    with pytest.raises(SystemExit) as exit_info:
        main(["pronounce", *args])
    captured = capsys.readouterr()
    assert exit_info.value.code == 0, captured.err
    return captured.out, captured.err


def test_captra_pronounce_gives_n_best_with_scores_from_arguments_or_stdin(trained, capsys, monkeypatch):
    _, cli = trained
    ckpt = cli.trainer.checkpoint_callback.best_model_path
    out, _ = pronounce(capsys, monkeypatch, "--ckpt", ckpt, "bat", "Toad")
    assert out.splitlines() == ["bat\tB AE1 T", "Toad\tT OW1 AE1 D"]  # the rule, learned; letters lowercased
    scored, _ = pronounce(capsys, monkeypatch, "--ckpt", ckpt, "--n-best", "2", "--scores", stdin="bat\n\ntoad\n")
    lines = [line.split("\t") for line in scored.splitlines()]
    assert [line[0] for line in lines] == ["bat", "bat", "toad", "toad"] and lines[0][2] == "B AE1 T"
    assert float(lines[0][1]) >= float(lines[1][1]) and lines[0][2] != lines[1][2]
    _, err = pronounce(capsys, monkeypatch, "--ckpt", ckpt, "bax")  # x: never seen in training
    assert "word 1: 'bax' has letters not seen in training (x), read as <unk>" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["pronounce", "--ckpt", ckpt, "two words"])
    assert exit_info.value.code == 2 and "word 1: 'two words' is not one word" in capsys.readouterr().err


def test_captra_report_compares_two_checkpoints_by_wer_and_draws_the_letter_phoneme_alignment(trained, tmp_path):
    folder, _ = trained
    best = sorted((folder / "run" / "version_0" / "checkpoints").glob("best-*.ckpt"))
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--ckpt", str(best[0]), "--ckpt", str(best[1]), "--split", "test", "--out", str(tmp_path / "r"),
              "--bootstrap-samples", "50"])
    assert exit_info.value.code == 0
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["task"] == "g2p" and metrics["split"] == "test"
    first = metrics["checkpoints"][0]["scores"]
    hypotheses = (tmp_path / "r" / "hypotheses.txt").read_text().splitlines()
    data = G2PDataModule(lexicon=str(folder / "lexicon.dict"), stress=True, val_fraction=0.1, test_fraction=0.1)
    words = data.words("test")
    assert first == error_rates(hypotheses, [[" ".join(p) for p in data.lexicon[w]] for w in words])
    assert set(metrics["significance"]) == {best[1].stem}
    report = (tmp_path / "r" / "report.md").read_text()
    for text in ("| word error rate (%) |", "| phoneme error rate (%) |", "## Significance (paired bootstrap)",
                 "## Attention (letter-phoneme alignments, learned)", "attention_1.png"):
        assert text in report


def test_the_pronounce_endpoint_answers_as_the_command_and_names_bad_words(trained):
    _, cli = trained
    ckpt = cli.trainer.checkpoint_callback.best_model_path
    served = load_served("g2p", [ckpt], CPU, None)
    with TestClient(create_app([served], Limits(), Batching(max_batch=4, max_wait_ms=5)),
                    raise_server_exceptions=False) as client:
        answer = client.post("/v1/pronounce", json={"text": ["bat", "toadx"], "n_best": 2, "attention": True})
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        module = served.module
        config = decoding_config(module.search_config, None, 2)
        offline = pronounce_ids(module, [module.texts["src"].encode(w) for w in ("bat", "toadx")], config, 8, CPU)
        for result, expected in zip(results, offline):
            assert [o["text"] for o in result["outputs"]] == [text for text, _ in expected]
        assert results[0]["unknown_letters"] == [] and results[1]["unknown_letters"] == ["x"]
        assert results[0]["attention"]["input_tokens"] == ["b", "a", "t"]
        bad = client.post("/v1/pronounce", json={"text": ["two words"]})
        assert bad.status_code == 422 and "text[0]: 'two words' is not one word" in bad.json()["error"]
        assert client.post("/v1/pronounce", json={"text": ["bat"]}).status_code == 200  # still serving


# --- NetTalk's window classifier, on alignments from the attention ------------------------------------
def test_alignments_from_attention_are_monotonic_and_give_letter_classes():
    from captra.g2p.nettalk import letter_classes, monotonic_alignment, pronunciation, windows

    # "box" -> B AA K S: the argmax of the phoneme K's row falls on "b" (before AA's letter): held at "o"
    attention = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.0, 0.1, 0.9]])
    alignment = monotonic_alignment(attention, letters=3, phonemes=4)
    assert alignment == [0, 1, 1, 2]
    assert letter_classes(["B", "AA", "K", "S"], alignment, 3) == ["B", "AA+K", "S"]
    assert letter_classes(["M", "EY"], [0, 1], 4) == ["M", "EY", "_", "_"]  # "make": silent k and e
    assert pronunciation(["M", "EY", "_", "K+S"]) == "M EY K S"
    data = windows([[5, 6, 7]], [["B", "AA", "S"]], {"B": 0, "AA": 1}, width=3)
    assert data.letters.tolist() == [[0, 5, 6], [5, 6, 7], [6, 7, 0]]  # padded at both ends with <pad>
    assert data.labels.tolist() == [0, 1, -1]  # a class never seen in training: left out


def test_the_nettalk_baseline_benchmark_learns_the_tiny_rule(trained):
    import subprocess

    _, cli = trained
    completed = subprocess.run([sys.executable, "benchmarks/nettalk_baseline.py", "--ckpt",
                                cli.trainer.checkpoint_callback.best_model_path, "--epochs", "30", "--hidden", "40"],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout)
    assert result["window"] == 7 and result["classes"] >= len(SOUNDS) + 1  # the phonemes and silence (the final e)
    assert result["epoch_losses"][-1] < result["epoch_losses"][0]
    assert result["scores"]["test"]["wer"] < 20.0  # one phoneme per letter, a silent final e: learnable from windows
