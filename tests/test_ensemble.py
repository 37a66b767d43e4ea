"""Ensembles: one decoder protocol for every search; members' log-probabilities averaged at each step."""

import copy
import gzip
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from captra.common.checkpoints.loading import load_module
from captra.common.cli.main import main, run_lightning
from captra.common.decoding.ensemble import Ensemble, EnsembleDecoder, EnsembleMemory
from captra.common.nn.memory import Memory
from tests.helpers import random_memory, tiny_decoder
from tests.test_self_critical import TRANSLATION

FIXTURES = Path(__file__).parent / "fixtures"
CKPT = FIXTURES / "legacy_translation.ckpt"
INPUT = FIXTURES / "legacy_translation.input.en"


def batch_of(module, lines):
    encoded = [module.texts["src"].encode(line) for line in lines]
    src = torch.zeros(len(encoded), max(map(len, encoded)), dtype=torch.long)
    for row, ids in enumerate(encoded):
        src[row, : len(ids)] = torch.tensor(ids)
    return {"src": src, "src_lengths": torch.tensor([len(ids) for ids in encoded])}


def perturbed(module, seed=0):
    other = copy.deepcopy(module)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.add_(0.3 * parameter.std().nan_to_num(0.1) * torch.randn(parameter.shape, generator=generator))
    return other


@pytest.fixture(scope="module")
def model():
    return load_module(CKPT)


def test_an_ensemble_of_one_or_of_a_model_with_itself_decodes_as_the_model(model):
    batch = batch_of(model, INPUT.read_text().splitlines()[:12])
    config = replace(model.search_config, beam_size=5, n_best=2)
    alone = model.decode(batch, config)
    for members in ([model], [model, model]):
        ensemble = Ensemble(members, ["a"] * len(members)).eval()
        together = ensemble.decode(batch, config)
        assert [[h.tokens for h in n] for n in together] == [[h.tokens for h in n] for n in alone]
        assert [h.score for n in together for h in n] == pytest.approx([h.score for n in alone for h in n], abs=1e-5)


def test_one_step_of_two_models_is_the_mean_of_their_log_probabilities():
    first, second = tiny_decoder(seed=1), tiny_decoder(seed=2)
    memory_a, memory_b = random_memory([3, 4], seed=1), random_memory([3, 4], seed=2)
    ensemble = EnsembleDecoder([first, second])
    memory = ensemble.prepare(EnsembleMemory([memory_a, memory_b]))
    state = ensemble.init_state(memory)
    tokens = torch.tensor([2, 2])
    log_probs, _, weights = ensemble.step(tokens, state, memory)
    by_hand = []
    for decoder, own in ((first, memory_a), (second, memory_b)):
        prepared = decoder.prepare(own)
        logits, _, attention = decoder.step(tokens, decoder.init_state(prepared), prepared)
        by_hand.append((torch.log_softmax(logits, -1), attention))
    assert torch.allclose(log_probs, (by_hand[0][0] + by_hand[1][0]) / 2, atol=1e-6)
    assert torch.allclose(weights, (by_hand[0][1] + by_hand[1][1]) / 2, atol=1e-6)
    assert not torch.allclose(by_hand[0][0], by_hand[1][0])  # two different models


@pytest.mark.parametrize("strategy", ["beam", "greedy"])
def test_ensembled_search_is_batch_invariant(model, strategy):
    ensemble = Ensemble([model, perturbed(model)], ["a", "b"]).eval()
    lines = INPUT.read_text().splitlines()[:10]
    config = replace(model.search_config, strategy=strategy, beam_size=4)
    together = ensemble.decode(batch_of(model, lines), config)
    alone = [ensemble.decode(batch_of(model, [line]), config)[0] for line in lines]
    assert [n[0].tokens for n in together] == [n[0].tokens for n in alone]
    assert [n[0].score for n in together] == pytest.approx([n[0].score for n in alone], abs=1e-4)
    single = model.decode(batch_of(model, lines), config)
    assert [n[0].tokens for n in together] != [n[0].tokens for n in single]  # the second member changed outputs


def test_translate_with_the_same_checkpoint_twice_prints_the_single_models_translations(capsys):
    outputs = []
    for ckpts in (["--ckpt", str(CKPT)], ["--ckpt", str(CKPT), "--ckpt", str(CKPT)]):
        with pytest.raises(SystemExit) as exit_info:
            main(["translate", *ckpts, "--input", str(INPUT), "--beam", "5", "--device", "cpu"])
        assert exit_info.value.code == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]


def test_an_ensemble_with_other_vocabularies_is_refused_in_one_line(tmp_path, capsys):
    checkpoint = torch.load(CKPT, weights_only=True)
    vocab = checkpoint["captra"]["text"]["tgt"]["vocab"]
    vocab[10], vocab[11] = vocab[11], vocab[10]
    other = tmp_path / "other.ckpt"
    torch.save(checkpoint, other)
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", "--ckpt", str(CKPT), "--ckpt", str(other), "--input", str(INPUT)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"captra translate: error: {other}: its vocabularies differ from {CKPT}'s (tgt vocabulary: "
                   f"{len(vocab)} vs {len(vocab)} entries, first difference at entry 10: {vocab[10]!r} vs {vocab[11]!r}): "
                   "an ensemble needs checkpoints of one task and vocabularies")


def test_captra_test_scores_an_ensemble_as_captra_translate_decodes_it(two_checkpoints, tmp_path, capsys):
    folder, (first, second) = two_checkpoints
    words = ["test", *TRANSLATION, "--data.data_dir", str(folder / "data"), "--trainer.default_root_dir", str(tmp_path)]

    def test_metrics(*extra: str) -> dict[str, float]:
        metrics = run_lightning([*words, "--ckpt_path", str(first), *extra]).trainer.callback_metrics
        return {name: float(value) for name, value in metrics.items()}

    alone, with_itself, pair = test_metrics(), test_metrics("--ensemble", f"[{first}]"), test_metrics("--ensemble+", str(second))
    assert with_itself["test/bleu"] == alone["test/bleu"]
    assert with_itself["test/loss"] == pytest.approx(alone["test/loss"], abs=1e-5)
    assert abs(pair["test/loss"] - alone["test/loss"]) > 1e-3  # the second member changes the distribution
    source = tmp_path / "test.src"
    source.write_text(gzip.open(folder / "data" / "test.src.gz", "rt", encoding="utf-8").read(), encoding="utf-8")
    capsys.readouterr()  # `captra test` printed its table
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", "--ckpt", str(first), "--ckpt", str(second), "--input", str(source)])
    assert exit_info.value.code == 0
    hypotheses = capsys.readouterr().out.splitlines()
    references = (folder / "data" / "test.tgt").read_text(encoding="utf-8").splitlines()
    expected = load_module(first).score(hypotheses, [[reference] for reference in references])["bleu"]
    assert len(hypotheses) == len(references) == 10
    assert pair["test/bleu"] == pytest.approx(expected, abs=1e-5)  # logged as float32


def test_an_ensemble_is_refused_by_fit_and_without_a_checkpoint(two_checkpoints, tmp_path, capsys):
    folder, (first, _) = two_checkpoints
    words = [*TRANSLATION, "--data.data_dir", str(folder / "data"), "--trainer.default_root_dir", str(tmp_path)]
    for command, error in (("fit", "fit trains one model; ensembles are for validate, test and predict"),
                           ("test", "needs --ckpt_path, the ensemble's first member")):
        with pytest.raises(SystemExit) as exit_info:
            main([command, *words, "--ensemble", f"[{first}]"])
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.strip().splitlines()[-1] == f"captra: error: --ensemble: {error}"


def test_the_ensemble_benchmark_scores_an_ensemble_of_a_model_with_itself_as_the_model(two_checkpoints):
    folder, (first, second) = two_checkpoints
    completed = subprocess.run(
        [sys.executable, "benchmarks/ensemble_decoding.py", "--device", "cpu", "--beam", "3", "--allow-unk", "false",
         "--system", str(first), "--system", f"{first}+{first}", "--system", f"{first}+{second}"],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    alone, with_itself, pair = json.loads(completed.stdout)["systems"]
    assert [system["members"] for system in (alone, with_itself, pair)] == [1, 2, 2]
    assert all(system["examples"] == 10 and system["beam"] == 3 and system["allow_unk"] is False
               for system in (alone, with_itself, pair))
    assert with_itself["bleu"] == alone["bleu"] and with_itself["chrf"] == alone["chrf"]
    assert pair["examples_per_s"] > 0
