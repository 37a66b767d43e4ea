"""The core names no task: tasks are records in a registry, and a third one needs no change to common/."""

import ast
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import torch

from captra.common import task as task_registry
from captra.common.checkpoints.loading import CheckpointError, load_module
from captra.common.cli.main import main
from captra.common.task import get_task, tasks
from captra.translation.model import TranslationModule

COMMON = Path(__file__).parent.parent / "common"
TASK_WORDS = ("translation", "captioning", "translate", "caption", "language_model", "formal", "g2p", "pronounce",
              "phoneme", "classify", "classification", "tomita", "sentiment")
FIXTURES = Path(__file__).parent / "fixtures"


def code_strings(tree: ast.AST) -> list[str]:
    """String constants of a module that are not docstrings."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


@pytest.mark.parametrize("path", sorted(COMMON.rglob("*.py")), ids=lambda p: str(p.relative_to(COMMON)))
def test_the_core_neither_imports_nor_names_a_task(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if any(word in name.split(".") for word in TASK_WORDS)]
    assert not [text for text in code_strings(tree) if any(word in text.lower() for word in TASK_WORDS)]


def test_the_installed_tasks_come_from_their_entry_points():
    assert {"translation", "captioning", "language_model"} <= set(tasks())
    assert get_task("translation").module_class is TranslationModule
    assert get_task("captioning").command.name == "caption"


def test_the_third_task_is_one_folder_and_one_entry_point_line(capsys):
    """The language model (tests/test_language_model.py runs it end to end) is found through its entry point alone."""
    task = get_task("language_model")
    assert task.module_class.__module__ == "captra.language_model.model" and task.command.name == "sample"
    pyproject = (COMMON.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert pyproject.count("captra.language_model.task:TASK") == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "  sample     continue a prompt with a language-model checkpoint" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "command", "route"), [("g2p", "pronounce", "pronounce"),
                                                        ("classification", "classify", "classify")])
def test_the_fourth_and_fifth_tasks_are_one_folder_and_one_entry_point_line_each(name, command, route):
    """Grapheme-to-phoneme and classification (tests/test_g2p.py, tests/test_classification.py run them end to end):
    every class of their records lives in their own folder, found through one entry-point line."""
    task = get_task(name)
    record = [task.module_class, task.data_class, task.command.run, task.endpoint.prepare]
    assert {thing.__module__.split(".")[1] for thing in record} == {name}
    assert task.command.name == command and task.endpoint.route == route
    pyproject = (COMMON.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert pyproject.count(f"captra.{name}.task:TASK") == 1


def test_a_checkpoint_of_an_unregistered_task_is_refused_by_name(tmp_path):
    checkpoint = torch.load(FIXTURES / "legacy_translation.ckpt", weights_only=True)
    checkpoint["captra"]["task"] = "speech"
    torch.save(checkpoint, tmp_path / "speech.ckpt")
    with pytest.raises(CheckpointError, match=r"speech.ckpt: unknown task 'speech'; known tasks: .*translation"):
        load_module(tmp_path / "speech.ckpt")


@pytest.fixture
def broken_speech_task(monkeypatch):
    """An installed task `speech` whose package cannot be imported (as a task with a missing dependency)."""
    installed = task_registry.entry_points(group=task_registry.ENTRY_POINT_GROUP)
    broken = EntryPoint("speech", "captra_missing_speech.task:TASK", task_registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(task_registry, "entry_points", lambda group: [*installed, broken])
    task_registry._installed.cache_clear()
    yield
    task_registry._installed.cache_clear()


def test_a_task_that_cannot_be_imported_leaves_the_others_working_and_is_named_when_used(
        broken_speech_task, capsys, tmp_path):
    assert {"translation", "captioning"} <= set(tasks()) and "speech" not in tasks()
    reason = "captra_missing_speech.task:TASK cannot be imported: ModuleNotFoundError: No module named 'captra_missing_speech'"
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "  translate " in out and f"unusable here: speech: {reason}" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", "audio.wav"])
    assert exit_info.value.code == 2 and f"unknown command 'transcribe'; installed tasks that cannot be imported " \
        f"here (their commands are missing): speech: {reason}" in capsys.readouterr().err
    checkpoint = torch.load(FIXTURES / "legacy_translation.ckpt", weights_only=True)
    checkpoint["captra"]["task"] = "speech"
    torch.save(checkpoint, tmp_path / "speech.ckpt")
    with pytest.raises(CheckpointError, match=r"speech.ckpt: task 'speech' is installed but unusable here: "
                                              r"captra_missing_speech.task:TASK cannot be imported"):
        load_module(tmp_path / "speech.ckpt")
