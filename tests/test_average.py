"""`captra average`: the parameters are the mean, one checkpoint averages to itself, mismatches are refused."""

import pytest
import torch

from captra.common.checkpoints.loading import load_module
from captra.common.cli.main import main
from tests.helpers import run_captra, write_reverse_corpus
from tests.test_self_critical import TRANSLATION


def average(capsys, *words: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["average", *words])
    return exit_info.value.code, capsys.readouterr().err


def test_the_average_of_two_checkpoints_is_the_mean_of_their_parameters(two_checkpoints, tmp_path, capsys):
    _, (first, second) = two_checkpoints
    out = tmp_path / "averaged.ckpt"
    code, _ = average(capsys, str(first), str(second), "--out", str(out))
    assert code == 0
    a, b = (torch.load(p, weights_only=True)["state_dict"] for p in (first, second))
    averaged = torch.load(out, weights_only=True)
    assert any(not torch.equal(a[name], b[name]) for name in a)  # two different checkpoints
    for name, value in averaged["state_dict"].items():
        if value.is_floating_point():
            assert torch.allclose(value, (a[name] + b[name]) / 2, atol=1e-7), name
    assert averaged["captra"]["averaged_from"] == [str(first), str(second)] and "optimizer_states" not in averaged
    module = load_module(out)  # a normal checkpoint: loads and translates
    assert module.texts["tgt"].decode(module.texts["tgt"].encode("a b c")) == "a b c"


def test_the_average_of_one_checkpoint_has_its_exact_weights(two_checkpoints, tmp_path, capsys):
    _, (first, _) = two_checkpoints
    out = tmp_path / "one.ckpt"
    assert average(capsys, str(first), "--out", str(out))[0] == 0
    original, averaged = (torch.load(p, weights_only=True)["state_dict"] for p in (first, out))
    assert original.keys() == averaged.keys()
    assert all(torch.equal(original[name], averaged[name]) and original[name].dtype == averaged[name].dtype
               for name in original)


def test_checkpoints_with_other_vocabularies_are_refused_in_one_line(two_checkpoints, tmp_path, capsys):
    folder, (first, _) = two_checkpoints
    write_reverse_corpus(tmp_path / "other", {"train": 40, "val": 4, "test": 4}, seed=3)
    (tmp_path / "other" / "train.tgt").write_text("x y z\n" * 40)
    fit = run_captra("fit", *TRANSLATION, "--data.data_dir", str(tmp_path / "other"), "--trainer.max_epochs", "1",
                     "--trainer.default_root_dir", str(tmp_path / "run"))
    assert fit.returncode == 0, fit.stderr[-2000:]
    other = tmp_path / "run" / "version_0" / "checkpoints" / "last.ckpt"
    code, err = average(capsys, str(first), str(other), "--out", str(tmp_path / "x.ckpt"))
    assert code == 2
    line, = err.strip().splitlines()
    assert line.startswith(f"captra average: error: {other}: its vocabularies differ from {first}'s (src vocabulary: ")
    assert "entries, first difference at entry" in line
    assert line.endswith("): average checkpoints of one run")
    assert not (tmp_path / "x.ckpt").exists()
