"""`tinytorch-verifier export` runs the static checks and the quick integration check of what it exported (the
module and every module depending on it), on the embedded course and on a copy with a broken
module; `--plan` prints the QA message without running anything; `tinytorch-verifier package verify` is
`tinytorch-verifier verify`."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from verifier.cli.main import build_parser, main

COURSE = Path(__file__).resolve().parents[2] / "course"


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-check") / "course"
    shutil.copytree(COURSE, root, ignore=shutil.ignore_patterns("tinytorch", "__pycache__"))
    return root


def test_export_one_module_checks_it_and_its_dependents(course_copy, capsys):
    assert main(["export", "--all", "--course", str(course_copy)]) == 0
    out = capsys.readouterr().out
    assert "Results: PASS — 18/18 imports passed" in out and "Static checks: PASS" in out
    assert main(["export", "03", "--course", str(course_copy)]) == 0
    out = capsys.readouterr().out
    assert "Integration testing for 03_activations:" in out
    assert "Dependencies: ['01_tensor', '02_autograd']" in out
    assert "'import tinytorch.core.activations'" in out and "'import tinytorch.core.dense'" in out
    assert "'import tinytorch.core.spatial'" not in out  # not a dependent of activations
    assert "Results: PASS — 5/5 imports passed" in out


def test_export_of_a_broken_module_fails_naming_it(course_copy, capsys):
    broken = course_copy.parent / "broken"
    shutil.copytree(course_copy, broken)
    source = broken / "modules/03_activations/activations.py"
    text = source.read_text()
    marker = "#| export\n"
    at = text.index(marker) + len(marker)
    source.write_text(text[:at] + "_SCALE = undefined_in_activations * 2\n" + text[at:])
    assert main(["export", "03", "--course", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "Results: FAIL" in out
    failed = [line for line in out.splitlines() if line.lstrip().startswith("- FAIL import")]
    assert any("tinytorch.core.activations" in line and "breaking module: 03_activations" in line for line in failed)
    # a dependent fails through the broken module, and is blamed on it, not on itself
    assert any("tinytorch.core.dense" in line and "breaking module: 03_activations" in line for line in failed)
    assert not any("tinytorch.core.tensor:" in line for line in failed)  # a dependency is not re-tested
    assert main(["export", "03", "--course", str(broken), "--no-check"]) == 0
    assert "Integration testing" not in capsys.readouterr().out


def test_plan_prints_the_qa_message_and_runs_nothing(capsys, monkeypatch):
    import verifier.runner.processes as processes
    monkeypatch.setattr(processes, "run", lambda *a, **k: pytest.fail("--plan started a process"))
    assert main(["package", "test", "--module", "10", "--plan", "--course", str(COURSE)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Integration testing for 10_spatial:\n")
    lines = dict(line.split(": ", 1) for line in out.splitlines()[1:])
    assert set(lines) == {"Dependencies", "Dependents", "Scenarios to run", "Tests to run"}
    assert "'01_tensor'" in lines["Dependencies"] and "'cnn'" in lines["Scenarios to run"]
    assert "tests/unit/test_spatial.py" in lines["Tests to run"]


def test_plan_of_an_unknown_module_is_one_line_and_exit_2(capsys):
    assert main(["package", "test", "--module", "99_nothing", "--plan", "--course", str(COURSE)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinytorch-verifier: error:") and len(err.strip().splitlines()) == 1


def test_package_verify_is_tito_verify():
    parser = build_parser()
    argv = ["--python", "3.12", "--scenario", "imports", "--no-tests", "--latest", "--strict", "--jobs", "1"]
    a, b = parser.parse_args(["verify", *argv]), parser.parse_args(["package", "verify", *argv])
    assert a.func is b.func
    assert {k: v for k, v in vars(a).items() if k not in ("command", "package_command")} == \
        {k: v for k, v in vars(b).items() if k not in ("command", "package_command")}
