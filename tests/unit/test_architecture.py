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


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict:
    """module -> the modules of the package at `root` it imports, from every import statement of the
    module (top level, inside functions, under `if TYPE_CHECKING:`: each can close a cycle)."""
    paths = {_module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    edges: dict = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                # `from pkg import mod` imports the module pkg.mod; `from mod import name`, the module mod
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            for target in targets:
                while target and target not in paths:  # `import a.b.c` of a non-module name: its module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges


def import_cycles(root: Path) -> list:
    from verifier.deps.digraph import cycles

    edges = import_graph(root)
    return [" -> ".join(c) for c in cycles(edges, sorted(edges), rank=str)]


def test_no_import_cycle_inside_the_verifier():
    assert import_cycles(REPO / "verifier") == []


def test_the_cycle_check_sees_a_cycle_through_a_function_level_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text('"""A package."""\n')
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub.b import thing\n")
    (package / "sub" / "b.py").write_text("def thing():\n    from .. import a\n    return a\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import d\n")
    (package / "d.py").write_text("import pkg.c\n")
    assert import_cycles(package) == ["pkg.a -> pkg.sub.b -> pkg.a", "pkg.c -> pkg.d -> pkg.c"]


NOT_A_VERIFIER_ERROR = "Not a VerifierError:"  # the phrase an exception class's docstring uses to say why


def stray_exceptions(modules) -> list:
    """Exception classes defined in `modules` that neither derive from VerifierError (errors.py, the one
    hierarchy the CLI prints as one line) nor say in their docstring why not."""
    from verifier.errors import VerifierError

    stray = []
    for module in modules:
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == module.__name__ \
                    and not issubclass(value, VerifierError) and NOT_A_VERIFIER_ERROR not in (value.__doc__ or ""):
                stray.append(f"{module.__name__}.{name}")
    return stray


def _runs_when_imported(path: Path) -> bool:
    """A call at the module's top level (`main()`, `sys.exit(main())`): a program, not imported here."""
    return any(isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
               for node in ast.parse(path.read_text(encoding="utf-8")).body)


def _script_exceptions(path: Path) -> list:
    """In a script that runs when imported (`__main__.py`, a child's program): classes whose bases are
    named like exceptions, without the docstring's reason (read, not run)."""
    stray = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef) and NOT_A_VERIFIER_ERROR not in (ast.get_docstring(node) or "") and \
                any(ast.unparse(b).endswith(("Exception", "Error")) for b in node.bases):
            stray.append(f"{path.name}.{node.name}")
    return stray


def test_every_exception_class_is_a_verifier_error_or_says_why_not():
    import importlib

    modules, scripts = [], []
    for path in _modules():
        if _runs_when_imported(path):
            scripts.append(path)
        else:
            modules.append(importlib.import_module(_module_name(path, REPO / "verifier")))
    assert len(modules) > 100 and len(scripts) < 5
    assert stray_exceptions(modules) + [c for p in scripts for c in _script_exceptions(p)] == []


def test_the_exception_check_sees_a_stray_class(tmp_path):
    import types

    module = types.ModuleType("fake")
    exec("class Stray(Exception):\n    '''No reason given.'''\n"
         "class Signal(Exception):\n    '''Not a VerifierError: a control-flow signal.'''\n", vars(module))
    assert stray_exceptions([module]) == ["fake.Stray"]
    assert _script_exceptions(_write(tmp_path / "script.py", "class Bad(ValueError):\n    pass\nmain()\n")) == \
        ["script.py.Bad"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


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
