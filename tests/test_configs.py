"""The configs: a documented base per task, overlays composed with repeated -c, every key documented in --help."""

import re
from pathlib import Path

import pytest
import yaml

from captra.common.cli.config_files import overlay_alone
from captra.common.cli.main import main

CONFIGS = Path(__file__).parent.parent / "configs"
OVERLAYS = sorted(path for path in CONFIGS.glob("*/*.yaml") if path.name != "base.yaml")


def composed(capsys, *configs: Path) -> dict:
    with pytest.raises(SystemExit):
        main(["fit", *[word for config in configs for word in ("-c", str(config))], "--print_config"])
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_overlay_composes_with_its_base_and_changes_only_what_it_names(overlay, capsys):
    base = composed(capsys, overlay.parent / "base.yaml")
    config = composed(capsys, overlay.parent / "base.yaml", overlay)
    assert config["model"]["class_path"] == base["model"]["class_path"]

    def leaves(tree: dict, prefix: str = "") -> dict:
        flat = {}
        for key, value in tree.items():
            path = f"{prefix}{key}"
            flat.update(leaves(value, path + ".") if isinstance(value, dict) else {path: value})
        return flat

    named = {key.replace("model.", "model.init_args.", 1).replace("data.", "data.init_args.", 1)
             for key in leaves(yaml.safe_load(overlay.read_text()))}
    changed = {key for key, value in leaves(config).items() if leaves(base).get(key) != value}
    assert changed and changed <= named


def test_the_small_translation_overlay_is_bounded_by_epochs_not_time(capsys):
    config = composed(capsys, CONFIGS / "translation/base.yaml", CONFIGS / "translation/multi30k_en_de_small.yaml")
    assert (config["trainer"]["max_epochs"], config["trainer"]["max_time"], config["trainer"]["max_steps"]) == (6, None, -1)
    assert config["model"]["init_args"]["encoder"]["hidden_size"] == 256


def undocumented(help_text: str, prefix: str) -> tuple[list[str], int]:
    """Options under `prefix` whose help says nothing but their type and default, and how many options there are."""
    entries: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        match = re.match(r"^  (--[\w.]+)(?: \S+)?(?:\s{2,}(.*))?$", line)
        if match and match.group(1).startswith(prefix):
            current = match.group(1)
            entries[current] = match.group(2) or ""
        elif current and line.startswith(" " * 20):
            entries[current] += " " + line.strip()
        else:
            current = None
    return sorted(key for key, text in entries.items() if not text.split("(type:")[0].strip()), len(entries)


@pytest.mark.parametrize("group, class_path", [
    ("model", "captra.translation.model.TranslationModule"), ("model", "captra.captioning.model.CaptioningModule"),
    ("data", "captra.translation.data.TranslationDataModule"), ("data", "captra.captioning.data.CaptioningDataModule"),
    ("model", "captra.language_model.model.LanguageModelModule"),
    ("data", "captra.language_model.data.TextStreamDataModule"),
    ("data", "captra.language_model.formal_data.FormalLanguageDataModule"),
    ("trainer", None), ("checkpoint", None), ("early_stopping", None), ("step_checkpoint", None),
])
def test_every_config_key_is_documented_in_help(group, class_path, capsys):
    with pytest.raises(SystemExit):
        main(["fit", f"--{group}.help", class_path] if class_path else ["fit", "--help"])
    missing, total = undocumented(capsys.readouterr().out, f"--{group}.")
    assert total >= 5 and missing == []


@pytest.mark.parametrize("command", ["fit", "prepare"])
@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_an_overlay_alone_is_refused_in_one_line_naming_its_base(overlay, command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "-c", str(overlay)])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1
    assert f"{overlay}: an overlay" in err and f"captra {command} -c {overlay.parent / 'base.yaml'} -c {overlay}" in err


def test_a_checkpoint_stands_for_the_model_class_but_not_for_the_data_class(capsys):
    overlay = CONFIGS / "translation/multi30k_en_de.yaml"
    with pytest.raises(SystemExit):
        main(["test", "-c", str(overlay), "--ckpt_path", "some.ckpt"])
    assert "names no data class" in capsys.readouterr().err


@pytest.mark.parametrize("word", ["--model.class_path=captra.translation.model.TranslationModule", "--model.class_path"])
def test_a_class_given_on_the_command_line_completes_an_overlay(word, capsys):
    overlay = CONFIGS / "translation/multi30k_en_de.yaml"
    words = ["-c", str(overlay), word] + ([] if "=" in word else ["captra.translation.model.TranslationModule"])
    assert overlay_alone("fit", words) == (f"{overlay}: an overlay (it names no data class); compose it with a base "
                                           f"config, e.g. captra fit -c {CONFIGS / 'translation/base.yaml'} -c {overlay}")
