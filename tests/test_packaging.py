"""Installed captra: one import namespace, every command discoverable, checkpoints of the previous layout still load."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from captra.common.checkpoints.loading import load_module
from captra.common.cli.main import main

FIXTURES = Path(__file__).parent / "fixtures"
ALL_COMMANDS = ["fit", "validate", "test", "predict", "prepare", "caption", "translate", "sample", "pronounce", "classify",
                "serve", "report", "average"]
CAPTRA = Path(sys.executable).with_name("captra")  # the console script beside this interpreter


def outside(*command: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    """A command run from a folder outside the repository, without PYTHONPATH."""
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, input=stdin, timeout=300,
                          env={"PATH": str(CAPTRA.parent) + ":/usr/bin:/bin", "HOME": str(cwd)})


@pytest.mark.parametrize("generic", ["common", "translation", "captioning", "language_model", "g2p", "classification"])
def test_installing_captra_claims_no_generic_top_level_name(tmp_path, generic):
    run = outside(sys.executable, "-c", f"import captra.{generic}\nimport {generic}", cwd=tmp_path)
    assert f"No module named '{generic}'" in run.stderr
    assert run.stderr.count("Traceback") == 1  # captra.<name> imported; only the bare name failed


def test_captra_help_lists_every_command_and_python_m_captra_is_the_same(tmp_path):
    script = outside(str(CAPTRA), "--help", cwd=tmp_path)
    module = outside(sys.executable, "-m", "captra", "--help", cwd=tmp_path)
    assert script.returncode == 0 and script.stdout == module.stdout
    listed = re.findall(r"^  (\w+) {2,}\S", script.stdout, flags=re.MULTILINE)
    assert sorted(listed) == sorted(ALL_COMMANDS)


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: captra" in capsys.readouterr().out


def test_a_checkpoint_of_the_previous_layout_translates_to_the_same_bytes(tmp_path):
    """legacy_translation.ckpt was written by captra 3ef0bf5, when the packages were top-level `translation`,
    `common`, ... (its hyper-parameters name `translation.model.TranslationModule`); the expected output is
    what that commit's `captra translate` printed for it."""
    ckpt = FIXTURES / "legacy_translation.ckpt"
    assert torch.load(ckpt, weights_only=True)["hyper_parameters"]["_class_path"] == "translation.model.TranslationModule"
    run = outside(str(CAPTRA), "translate", "--ckpt", str(ckpt), "--input", str(FIXTURES / "legacy_translation.input.en"),
                  "--beam", "5", "--n-best", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout == (FIXTURES / "legacy_translation.beam5_nbest2.de").read_text(encoding="utf-8")
    assert type(load_module(ckpt)).__module__ == "captra.translation.model"
