"""Bad input never crashes the verifier: each case is one clear error (exit 2) or a finding (exit 1),
with the file named, and never a traceback — for `tito package validate` and for `tito verify`."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from helpers import MINI_MODULE, MINI_PYPROJECT, write_course

HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"


def empty(root):
    root.mkdir()


def no_module_yaml(root):
    write_course(root, {"01_alpha/alpha.py": MINI_MODULE}, pyproject=MINI_PYPROJECT)


def non_utf8(root):
    write_course(root, {"01_alpha/alpha.py": MINI_MODULE}, pyproject=MINI_PYPROJECT)
    (root / "modules/01_alpha/alpha.py").write_bytes(b"# %%\n#| default_exp core.alpha\n# caf\xe9\n")


def huge(root):
    write_course(root, {"01_alpha/alpha.py": MINI_MODULE}, pyproject=MINI_PYPROJECT)
    with (root / "modules/01_alpha/alpha.py").open("a") as handle:
        handle.write("# %%\n" + ("x = 1  # padding\n" * 3_000_000))  # ~50 MB


def bad_notebook(root):
    write_course(root, {"01_alpha/alpha.ipynb": '{"cells": [{"cell_type": "code", "source": ["x = 1"],}]}'},
                 pyproject=MINI_PYPROJECT)


def yaml_not_mapping(root):
    write_course(root, {"01_alpha/alpha.py": MINI_MODULE}, pyproject=MINI_PYPROJECT,
                 yamls={"01_alpha": "- just\n- a list\n"})


def bad_toml(root):
    write_course(root, {"01_alpha/alpha.py": MINI_MODULE}, pyproject='[project]\nname = "tinytorch\n')


def missing(root):
    pass


CASES = {"empty-course": (empty, None), "no-module-yaml": (no_module_yaml, None),
         "non-utf8-source": (non_utf8, "alpha.py"), "50mb-source": (huge, "alpha.py"),
         "invalid-notebook-json": (bad_notebook, "alpha.ipynb"), "yaml-not-a-mapping": (yaml_not_mapping, "module.yaml"),
         "invalid-toml": (bad_toml, "pyproject.toml:2"), "no-such-path": (missing, "no course")}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", [["package", "validate"], ["verify", "--python", HERE, "--no-tests",
                                                                  "--scenario", "imports"]])
def test_bad_input_is_one_clear_error_or_a_finding(case, command, tmp_path):
    make, mention = CASES[case]
    root = tmp_path / "course"
    make(root)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "verifier.cli", *command, "--course", str(root),
                           *(["--reports", str(tmp_path / "reports")] if command[0] == "verify" else [])],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output[-3000:]
    assert time.monotonic() - started < 300
    if case == "no-module-yaml":
        assert done.returncode in (0, 1), output[-2000:]  # layout C: the graph is inferred
        return
    assert done.returncode in (1, 2), output[-2000:]
    if done.returncode == 2:
        errors = [l for l in done.stderr.splitlines() if l.startswith("tito: error:")]
        assert len(errors) == 1, done.stderr
    if mention:
        assert mention in output, output[-2000:]
    if command[0] == "verify" and done.returncode == 1:
        data = json.loads((tmp_path / "reports/verify.json").read_text())
        assert data["ready"] is False and data["pythons"] == []
