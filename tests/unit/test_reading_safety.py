"""Reading a hostile course never hangs, crashes or eats memory, and what it cannot read is named:
special files (TT009), UTF-16/32 sources, a [project] table setuptools would refuse (TT010), cells
over the parse budget (TT011), targets differing only by case (TT119), and `deps --check` agreeing
with `validate` about an unreadable module.yaml. Each must fire here and stay quiet on real trees."""
from __future__ import annotations

import json
import os
import tarfile
import threading
from pathlib import Path

import pytest
from helpers import CORPUS, EMBEDDED_COURSE, MINI_MODULE, MINI_PYPROJECT, write_course

from verifier.checks.validate import run_validate
from verifier.course.files import UnsafeFileError, ignore_special_files, special_files
from verifier.deps.graph import run_deps

ALPHA_YAML = "name: alpha\nexports_to: tinytorch.core.alpha\ndependencies:\n  prerequisites: []\ncomponents: [double]\n"
NEW_CODES = ("TT009", "TT010", "TT011", "TT119")


def course(root: Path, **extra_modules: str) -> Path:
    modules = {"01_alpha/alpha.py": MINI_MODULE, **extra_modules}
    return write_course(root, modules, pyproject=MINI_PYPROJECT, yamls={"01_alpha": ALPHA_YAML})


def validate_json(root: Path, timeout: float = 60):
    """run_validate in a thread, so a hang fails the test instead of blocking it."""
    done: list = []
    worker = threading.Thread(target=lambda: done.append(run_validate(root, None, "json")), daemon=True)
    worker.start()
    worker.join(timeout)
    assert done, "validation hung"
    text, code = done[0]
    return json.loads(text), code


def findings(data, code):
    return [f for f in data["findings"] if f["code"] == code]


# --- 1. special files ------------------------------------------------------------------------

def test_a_fifo_in_the_committed_package_is_a_finding_not_a_hang(tmp_path):
    root = course(tmp_path / "c")
    (root / "tinytorch/core").mkdir(parents=True)
    (root / "tinytorch/__init__.py").write_text("")
    os.mkfifo(root / "tinytorch/core/x.py")
    data, code = validate_json(root)
    assert code == 1
    [found] = findings(data, "TT009")
    assert found["path"] == "tinytorch/core/x.py" and "named pipe" in found["issue"] and "remove" in found["fix"]


def test_a_fifo_in_tests_is_a_finding_and_copies_leave_it_out(tmp_path):
    import shutil

    root = course(tmp_path / "c")
    (root / "tests").mkdir()
    (root / "tests/test_a.py").write_text("def test_a():\n    pass\n")
    os.mkfifo(root / "tests/pipe")
    data, _ = validate_json(root)
    assert [f["path"] for f in findings(data, "TT009")] == ["tests/pipe"]
    assert special_files(root) == [root / "tests/pipe"]
    shutil.copytree(root / "tests", tmp_path / "copy", ignore=ignore_special_files("__pycache__"))
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["test_a.py"]


def test_export_refuses_a_fifo_in_the_package_with_one_line(tmp_path):
    from verifier.course.discovery import load_course
    from verifier.package.export import plan_export, write_package

    root = course(tmp_path / "c")
    (root / "tinytorch/core").mkdir(parents=True)
    os.mkfifo(root / "tinytorch/core/x.py")
    loaded = load_course(root)
    with pytest.raises(UnsafeFileError) as caught:
        write_package(plan_export(loaded), root)
    assert str(caught.value).startswith("tinytorch/core/x.py: is a named pipe (FIFO), not a regular file — remove it")


# --- 2. UTF-16 / UTF-32 sources ------------------------------------------------------------------

@pytest.mark.parametrize("encoding, name", [("utf-16", "UTF-16"), ("utf-16-be", None), ("utf-32", "UTF-32")])
def test_a_utf16_source_is_named_as_such(tmp_path, encoding, name):
    root = course(tmp_path / "c")
    raw = MINI_MODULE.encode(encoding)
    if name is None:  # big-endian with its BOM
        raw, name = b"\xfe\xff" + raw, "UTF-16"
    (root / "modules/01_alpha/alpha.py").write_bytes(raw)
    data, code = validate_json(root)
    [found] = findings(data, "TT002")
    assert found["issue"] == f"saved as {name}, not UTF-8" and "save it as UTF-8" in found["fix"]
    assert found["path"] == "modules/01_alpha/alpha.py"


# --- 3. [project] as setuptools validates it ----------------------------------------------------

def test_requires_python_with_an_empty_clause_is_tt010_at_its_line(tmp_path):
    root = course(tmp_path / "c")
    (root / "pyproject.toml").write_text(MINI_PYPROJECT.replace('">=3.9"', '">=3.9,,<4"'))
    data, code = validate_json(root)
    assert code == 1
    [found] = findings(data, "TT010")
    line = MINI_PYPROJECT.splitlines().index('requires-python = ">=3.9"') + 1
    assert (found["path"], found["line"]) == ("pyproject.toml", line)
    assert "requires-python" in found["issue"]


def test_each_schema_error_is_its_own_finding(tmp_path):
    root = course(tmp_path / "c")
    bad = MINI_PYPROJECT.replace('">=3.9"', '">=3.9,,<4"').replace('dependencies = ["numpy"]',
                                                                    'dependencies = ["numpy", "scipy>>1"]')
    (root / "pyproject.toml").write_text(bad)
    data, _ = validate_json(root)
    assert sorted(f["locations"][0]["what"] for f in findings(data, "TT010")) == ["dependencies", "requires-python"]


# --- 4. targets differing only by case -------------------------------------------------------------

def test_targets_differing_only_by_case_are_an_error_naming_both(tmp_path):
    beta = MINI_MODULE.replace("core.alpha", "core.Alpha").replace("double", "triple")
    root = course(tmp_path / "c", **{"02_beta/beta.py": beta})
    data, code = validate_json(root)
    assert code == 1
    [found] = findings(data, "TT119")
    assert found["severity"] == "error" and found["impact"] == "install-breaking"
    assert "modules/01_alpha/alpha.py" in found["issue"] and "modules/02_beta/beta.py" in found["issue"]
    assert (found["path"], found["line"]) == ("modules/02_beta/beta.py", 2)


# --- 5. the parse budget ---------------------------------------------------------------------------

def test_a_cell_over_the_parse_budget_is_refused_before_parsing(tmp_path, monkeypatch):
    import ast

    from verifier.course import budget

    monkeypatch.setattr(budget, "SMALL_CELL_CHARS", 100)
    root = course(tmp_path / "c")
    path = root / "modules/01_alpha/alpha.py"
    path.write_text(MINI_MODULE + "\n# %%\n#| export\nBIG = [" + "1," * (budget.FILE_TOKEN_BUDGET // 2 + 10) + "]\n")
    parsed = []
    real_parse = ast.parse
    monkeypatch.setattr(ast, "parse", lambda code, *a, **k: parsed.append(len(code)) or real_parse(code, *a, **k))
    data, code = validate_json(root)
    [found] = findings(data, "TT011")
    assert found["path"] == "modules/01_alpha/alpha.py" and found["line"] == 13
    assert "too large to analyse" in found["issue"]
    assert max(parsed) < 10_000  # the big cell never reached the parser


# --- 6. deps --check agrees with validate -----------------------------------------------------------

def test_deps_check_and_validate_agree_about_an_unreadable_module_yaml(tmp_path):
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    root = write_course(tmp_path / "c", {"01_alpha/alpha.py": MINI_MODULE}, pyproject=MINI_PYPROJECT,
                        yamls={"01_alpha": "\n".join(lines) + "\ndependencies:\n  prerequisites: *a9\n"})
    data, validate_code = validate_json(root)
    [tt001] = findings(data, "TT001")
    text, deps_code = run_deps(root, "text", check=True)
    assert deps_code == validate_code == 1
    assert f"{tt001['path']}:{tt001['line']}: {tt001['issue']}" in text
    payload, _ = run_deps(root, "json", check=True)
    assert json.loads(payload)["unreadable_module_yaml"][0]["message"] == tt001["issue"]


# --- must not fire on real trees ----------------------------------------------------------------------

def _real_trees(tmp_path_factory):
    trees = [EMBEDDED_COURSE]
    if CORPUS.is_dir():
        out = tmp_path_factory.mktemp("corpus")
        for archive in sorted(CORPUS.glob("*.tar.gz")):
            with tarfile.open(archive) as tar:
                tar.extractall(out / archive.name[:-len(".tar.gz")])
            trees += [p.parent for p in (out / archive.name[:-len(".tar.gz")]).glob("*/pyproject.toml")]
    return trees


def test_new_findings_stay_quiet_on_real_trees(tmp_path_factory):
    if not CORPUS.is_dir():
        pytest.skip(f"the upstream snapshots are not at {CORPUS}: only the embedded course is checked")
    trees = _real_trees(tmp_path_factory)
    assert len(trees) == 4, trees  # the embedded course and three snapshots, each with a pyproject.toml
    for tree in trees:
        data, _ = validate_json(tree, timeout=600)
        assert not [f for f in data["findings"] if f["code"] in NEW_CODES], tree
        text, _ = run_deps(tree, "text", check=True)
        assert "(TT001)" not in text, tree
