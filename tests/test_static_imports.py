"""Editors and type checkers resolve every `captra.*` import of the core and the tasks.

The folders install under the captra namespace through pyproject's package-dir mapping; setuptools' default
editable install serves that mapping with an import hook that static analysis cannot see, so pyright (VS Code's
type checker) resolved none of these imports. `.ci/install` installs in strict editable mode (a tree of links),
which it resolves. This test runs pyright's import resolution (basedpyright, its PyPI distribution with Node
bundled) over the installed environment and fails on any unresolved captra import.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).parent.parent
# the core and every task folder: the package-dir mapping's folders, but the namespace root
PACKAGES = tuple(folder for name, folder in
                 tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].items()
                 if name != "captra")


def captra_imports() -> list[tuple[Path, str]]:
    """(file, module) of every `import captra...` / `from captra... import` in the packages."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("captra"):
                    found.append((path, node.module))
                elif isinstance(node, ast.Import):
                    found += [(path, alias.name) for alias in node.names if alias.name.startswith("captra")]
    return found


def test_pyright_resolves_every_captra_import(tmp_path: Path) -> None:
    imports = captra_imports()
    assert len(imports) > 150, "the packages import each other through the captra namespace"
    config = tmp_path / "pyrightconfig.json"
    config.write_text(json.dumps({
        "include": [str(ROOT / package) for package in PACKAGES],
        "typeCheckingMode": "off",  # only import resolution is checked here
        "reportMissingImports": "error",
        "reportMissingModuleSource": "none",
    }))
    checker = Path(sys.executable).parent / "basedpyright"
    result = subprocess.run([str(checker), "--outputjson", "--pythonpath", sys.executable, "-p", str(config)],
                            capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout)
    python_files = sum(len(list((ROOT / package).rglob("*.py"))) for package in PACKAGES)
    assert report["summary"]["filesAnalyzed"] == python_files
    unresolved = [f"{Path(d['file']).relative_to(ROOT)}:{d['range']['start']['line'] + 1}: {d['message']}"
                  for d in report["generalDiagnostics"] if d.get("rule") == "reportMissingImports"]
    assert not unresolved, "imports pyright cannot resolve (install with `pip install -e . --config-settings " \
                           "editable_mode=strict`, as .ci/install does):\n" + "\n".join(unresolved)
