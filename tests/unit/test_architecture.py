"""The verifier's shape, checked: imports point one way (the import-linter contracts in
pyproject.toml), nothing below runner/ starts a process, and no module or class grows past the
size a reader can hold in mind without saying why in its docstring."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 520
MAX_CLASS_LINES = 250
SIZE_REASON = "Longer than usual because"  # the phrase a docstring uses to justify its size


def _lint_imports() -> str:
    found = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(found).exists():
        pytest.skip("import-linter is not installed (it is in the `test` extra)")
    return found


def test_import_contracts_hold():
    done = subprocess.run([_lint_imports(), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout


def test_the_layer_contract_can_fail(tmp_path):
    """The contract is not vacuous: a copy of the package where course/ imports pipeline/ breaks it."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "verifier", copy / "verifier", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    bad = copy / "verifier" / "course" / "matrix.py"
    bad.write_text(bad.read_text(encoding="utf-8") + "\nfrom ..pipeline import gate  # noqa\n", encoding="utf-8")
    done = subprocess.run([_lint_imports(), "--no-cache"], cwd=copy, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0
    assert "verifier.course is not allowed to import verifier.pipeline" in done.stdout


def _modules():
    return sorted((REPO / "verifier").rglob("*.py"))


def test_modules_and_classes_stay_readable():
    too_big = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        doc = ast.get_docstring(tree) or ""
        if len(text.splitlines()) > MAX_MODULE_LINES and SIZE_REASON not in doc:
            too_big.append(f"{path.relative_to(REPO)}: {len(text.splitlines())} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno
                if length > MAX_CLASS_LINES and SIZE_REASON not in (ast.get_docstring(node) or ""):
                    too_big.append(f"{path.relative_to(REPO)}: class {node.name} {length} lines")
    assert too_big == []


def test_every_module_says_what_it_is_for():
    missing = [str(p.relative_to(REPO)) for p in _modules() if not ast.get_docstring(ast.parse(p.read_text("utf-8")))]
    assert missing == []


def test_test_files_have_unique_basenames():
    """pytest imports test modules by basename (rootdir-less `prepend` mode): two test files with one name
    in different folders stop the whole collection ("import file mismatch")."""
    names = [path.name for path in (REPO / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []


MAX_CLI_LINES = 400  # issue 25: the command line is a thin layer over the library (as pypa/build's)


def test_the_cli_stays_thin():
    """cli/ parses arguments and calls the library: under 400 lines in all, and every `cmd_*` function
    is imports plus one `return library_function(...)` — the work lives below cli/."""
    files = sorted((REPO / "verifier" / "cli").glob("*.py"))
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in files}
    assert "main.py" in sizes and sum(sizes.values()) < MAX_CLI_LINES, sizes
    thick = []
    for path in files:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("cmd_"):
                work = [s for s in node.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
                if len(work) != 1 or not isinstance(work[0], ast.Return) or not isinstance(work[0].value, ast.Call):
                    thick.append(f"{path.name}: {node.name}")
    assert thick == []
