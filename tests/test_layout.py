"""The house rules that keep the folders readable, checked on every run: the import contract (pyproject.toml,
import-linter), ruff, and the size limits of STYLE.md."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("ingest", "analytics", "ui", "bench")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# A longer function says why in its docstring, in a sentence starting with this.
LONG_REASON = "Long because"


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120)


def _sources() -> list[Path]:
    return sorted([*[p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")], *(REPO / "pages").rglob("*.py"),
                   REPO / "app.py"])


def test_import_contract_holds():
    out = _lint_imports(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize("module, upward", [
    ("analytics/metrics.py", "import ui.strings"),           # analytics reaching up into the Streamlit glue
    ("ingest/calls.py", "import analytics.filters"),         # the store reaching up into analytics
    ("analytics/filters.py", "import streamlit"),            # the headless core importing Streamlit
])
def test_import_contract_catches_an_upward_import(tmp_path, module, upward):
    for name in (*PACKAGES, "pyproject.toml"):
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy
        copy(REPO / name, tmp_path / name)
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{upward}  # noqa\n")
    out = _lint_imports(tmp_path)
    assert out.returncode != 0 and "BROKEN" in out.stdout, out.stdout


def test_ruff_is_clean():
    out = subprocess.run([_tool("ruff"), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_modules_and_functions_stay_small():
    too_long = []
    for path in _sources():
        source = path.read_text()
        name = path.relative_to(REPO)
        if source.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES and LONG_REASON not in (ast.get_docstring(node) or ""):
                    too_long.append(f"{name}:{node.lineno} {node.name}() {length} lines")
    assert not too_long, "split these, or say why in the docstring (\"Long because …\"):\n" + "\n".join(too_long)
