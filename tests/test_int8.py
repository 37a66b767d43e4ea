"""`--int8`: the linear and recurrent layers of a checkpoint decode with int8 weights on the CPU, close to fp32."""

from pathlib import Path

import pytest
import torch

from captra.common.checkpoints.loading import load_module
from captra.common.cli.main import main
from captra.common.decoding import int8 as int8_module
from captra.common.decoding.int8 import choose_int8, quantize_int8, uses_int8

FIXTURES = Path(__file__).parent / "fixtures"
CKPT = FIXTURES / "legacy_translation.ckpt"
INPUT = FIXTURES / "legacy_translation.input.en"


def translate(capsys, *extra: str) -> list[str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", "--ckpt", str(CKPT), "--input", str(INPUT), "--beam", "5", "--device", "cpu", *extra])
    assert exit_info.value.code == 0
    return capsys.readouterr().out.splitlines()


def test_int8_quantises_linear_and_recurrent_layers_and_leaves_the_original_alone():
    module = load_module(CKPT)
    quantised = quantize_int8(module)
    dynamic = torch.ao.nn.quantized.dynamic
    assert isinstance(quantised.encoder.rnn, dynamic.LSTM)
    assert all(isinstance(cell, dynamic.LSTMCell) for cell in quantised.decoder.cells)
    assert isinstance(quantised.decoder.output, dynamic.Linear) and isinstance(quantised.decoder.deep_output, dynamic.Linear)
    assert type(quantised.decoder.attention.energy_layer) is torch.nn.Linear  # read as a vector: stays float
    assert type(module.decoder.output) is torch.nn.Linear  # a copy was quantised
    memory = module.encoder(torch.tensor([[5, 6, 7, 8]]), torch.tensor([4]))
    memory_int8 = quantised.encoder(torch.tensor([[5, 6, 7, 8]]), torch.tensor([4]))
    error = (memory.states - memory_int8.states).abs().max() / memory.states.abs().max()
    assert 0.0 < float(error) < 0.05  # quantised (not identical), yet close


def test_translate_int8_agrees_with_fp32_on_most_sentences(capsys):
    fp32 = translate(capsys)
    int8 = translate(capsys, "--int8", "force")
    expected = (FIXTURES / "legacy_translation.beam5_nbest2.de").read_text().splitlines()[::2]
    assert fp32 == expected  # the fp32 path is untouched
    assert len(int8) == len(fp32)
    same = sum(a == b for a, b in zip(fp32, int8))
    assert same >= 0.7 * len(fp32)


def test_int8_is_chosen_where_a_measured_decoder_step_is_faster_and_else_fp32_with_the_reason(monkeypatch):
    module = load_module(CKPT)
    seconds = {True: 1.0, False: 2.0}  # int8 twice as fast
    monkeypatch.setattr(int8_module, "decoder_step_seconds", lambda model, repeats=3: seconds[uses_int8(model)])
    faster = choose_int8(module)
    assert faster.int8 and uses_int8(faster.module) and "2.00x as fast as in fp32" in faster.reason
    seconds[True] = 2.1  # int8 slower: 0.95x
    slower = choose_int8(module)
    assert not slower.int8 and slower.module is module and not uses_int8(slower.module)
    assert "--int8 does not pay here (a decoder step 0.95x as fast as in fp32" in slower.reason
    assert "int8 engine" in slower.reason and "--int8 force" in slower.reason
    forced = choose_int8(module, force=True)
    assert forced.int8 and uses_int8(forced.module)


def test_the_decoder_step_probe_times_a_real_step_of_either_model():
    module = load_module(CKPT)
    assert 0 < int8_module.decoder_step_seconds(module, repeats=1) < 10
    assert 0 < int8_module.decoder_step_seconds(quantize_int8(module), repeats=1) < 10


def test_translate_int8_says_what_it_chose(capsys, monkeypatch):
    monkeypatch.setattr(int8_module, "decoder_step_seconds", lambda model, repeats=3: 1.0)  # no gain: fp32
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", "--ckpt", str(CKPT), "--input", str(INPUT), "--beam", "5", "--device", "cpu", "--int8"])
    captured = capsys.readouterr()
    assert exit_info.value.code == 0 and "--int8 does not pay here" in captured.err
    expected = (FIXTURES / "legacy_translation.beam5_nbest2.de").read_text().splitlines()[::2]
    assert captured.out.splitlines() == expected  # decoded in fp32


def test_int8_on_a_gpu_device_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", "--ckpt", str(CKPT), "--input", str(INPUT), "--device", "cuda:0", "--int8"])
    assert exit_info.value.code == 2
    assert "--int8 runs on the CPU only" in capsys.readouterr().err


def test_the_int8_benchmark_scores_both_paths_on_the_runs_test_split(tmp_path):
    import json
    import subprocess
    import sys

    from tests.helpers import run_captra, write_reverse_corpus
    from tests.test_self_critical import TRANSLATION

    write_reverse_corpus(tmp_path / "data", {"train": 160, "val": 10, "test": 12})
    fit = run_captra("fit", *TRANSLATION, "--data.data_dir", str(tmp_path / "data"), "--trainer.max_epochs", "2",
                     "--trainer.default_root_dir", str(tmp_path / "run"))
    assert fit.returncode == 0, fit.stderr[-2000:]
    completed = subprocess.run([sys.executable, "benchmarks/int8_decoding.py", "--ckpt",
                                str(tmp_path / "run/version_0/checkpoints/last.ckpt"), "--beam", "3"],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout)
    assert result["task"] == "translation" and result["split"] == "test" and result["examples"] == 12
    for path in ("fp32", "int8"):
        assert result[path]["examples_per_s"] > 0 and 0.0 <= result[path]["bleu"] <= 100.0
    assert 0 <= result["outputs_differing"] <= 12
    assert result["int8_minus_fp32"]["bleu"] == pytest.approx(result["int8"]["bleu"] - result["fp32"]["bleu"])
