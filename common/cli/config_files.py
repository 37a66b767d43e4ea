"""The config files of a `captra fit / validate / test / predict / prepare` command line, read before LightningCLI
parses them: an overlay given without its base config is refused in one line that says what to compose it with
(LightningCLI's own error is a usage dump ending in an option the data module's base class does not accept)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SECTIONS = ("model", "data")


def config_paths(words: list[str]) -> list[Path]:
    """The files given with -c / --config (also --config=FILE), in order."""
    paths = []
    for index, word in enumerate(words):
        if word in ("-c", "--config") and index + 1 < len(words):
            paths.append(Path(words[index + 1]))
        elif word.startswith("--config="):
            paths.append(Path(word.split("=", 1)[1]))
    return paths


def _names_a_class(config: Any, section: str) -> bool:
    value = config.get(section) if isinstance(config, dict) else None
    return isinstance(value, str) or (isinstance(value, dict) and "class_path" in value)


def overlay_alone(command: str, words: list[str]) -> str | None:
    """The one-line error for config files of which none names the model or data class (overlays without their
    base), or None. A class or a checkpoint (the model's) given on the command line counts."""
    paths = config_paths(words)
    if not paths or not all(path.is_file() for path in paths):
        return None  # no configs, or a missing one: LightningCLI's own message names it
    try:
        configs = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in paths]
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    given = {section for section in SECTIONS for word in words
             if word in (f"--{section}", f"--{section}.class_path")
             or word.startswith((f"--{section}=", f"--{section}.class_path="))}
    if any(word == "--ckpt_path" or word.startswith("--ckpt_path=") for word in words):
        given.add("model")  # rebuilt from the checkpoint
    missing = [s for s in SECTIONS if s not in given and not any(_names_a_class(config, s) for config in configs)]
    if not missing:
        return None
    base = paths[-1].parent / "base.yaml"
    compose = f"; compose it with a base config, e.g. captra {command} -c {base} -c {paths[-1]}" if base.is_file() else ""
    files = ", ".join(str(path) for path in paths)
    return f"{files}: an overlay (it names no {' or '.join(missing)} class){compose}"
