"""The pre-commit hooks (.pre-commit-hooks.yaml), run as a course repository runs them: `pre-commit
try-repo` of a git snapshot of this tree (working-tree changes included) against a temporary git
repository holding a copy of the embedded course.

  clean course with its fresh export committed: both hooks pass;
  an undeclared `import scipy` seeded into an exported cell (committed, package not re-exported):
  tito-validate fails naming modules/01_tensor/tensor.py:<line>, tito-export-fresh fails naming the
  stale tinytorch/core/tensor.py; nothing in the course repository is written.
(A course that commits no package folder is covered by tests/unit/test_freshness.py.)

`pre-commit try-repo` installs the hook environment with pip (the verifier and its dependencies)
into a temporary store on every call — it ignores PRE_COMMIT_HOME — about 45 s here, so the test
makes two calls, each running both hooks. Skips when no package index can be reached. Marked system.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest
from helpers import EMBEDDED_COURSE, REPO

pytestmark = pytest.mark.system

SNAPSHOT_IGNORE = shutil.ignore_patterns(".git", ".venv", ".venv-*", ".nox", "reports", "dist", "build", "*.egg-info",
                                         "__pycache__", "node_modules", ".tito", ".pytest_cache")
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=120,
                   env=dict(os.environ, **GIT_IDENTITY))


def _commit_all(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--allow-empty", "-m", message)


@pytest.fixture(scope="session")
def hook_env(tmp_path_factory) -> Dict[str, str]:
    """(pre-commit, the hook repository, a PRE_COMMIT_HOME): one snapshot of this tree per session."""
    pre_commit = Path(sys.executable).with_name("pre-commit")
    if not pre_commit.is_file():
        pytest.skip("pre-commit is not installed (pip install -e '.[test]')")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    base = tmp_path_factory.mktemp("precommit")
    probe = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(base / "probe"),
                            "setuptools>=77"], capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        pytest.skip(f"pre-commit cannot install the hook environment: no package index reachable "
                    f"({probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else 'pip download failed'})")
    hooks = base / "hooks"
    shutil.copytree(REPO, hooks, ignore=SNAPSHOT_IGNORE)
    shutil.rmtree(hooks / "course" / "tinytorch", ignore_errors=True)
    _git(hooks, "init", "-q")
    _commit_all(hooks, "snapshot of the verifier under test")
    return {"pre_commit": str(pre_commit), "hooks": str(hooks), "home": str(base / "home")}


@pytest.fixture
def course_repo(tmp_path) -> Path:
    repo = tmp_path / "tinytorch-course"
    shutil.copytree(EMBEDDED_COURSE, repo, ignore=shutil.ignore_patterns("tinytorch", "__pycache__", "dist", "build"))
    _git(repo, "init", "-q")
    _commit_all(repo, "course")
    return repo


def try_repo(hook_env: Dict[str, str], repo: Path) -> subprocess.CompletedProcess:
    """Every hook of the snapshot, on every file of `repo`, showing each hook's output."""
    env = dict(os.environ, PRE_COMMIT_HOME=hook_env["home"], **GIT_IDENTITY)
    env.pop("TITO_COURSE", None)
    return subprocess.run([hook_env["pre_commit"], "try-repo", hook_env["hooks"], "--all-files", "--verbose",
                           "--color=never"],
                          cwd=repo, capture_output=True, text=True, env=env, timeout=1200)


def _status(repo: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout


def test_hooks_pass_on_a_fresh_course_and_fail_naming_file_and_line(hook_env, course_repo):
    exported = subprocess.run([sys.executable, "-m", "verifier.cli", "export", "--no-check", "--course",
                               str(course_repo)], capture_output=True, text=True, timeout=300)
    assert exported.returncode == 0, exported.stderr
    _commit_all(course_repo, "course with its exported package")
    result = try_repo(hook_env, course_repo)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("Passed") == 2 and "up to date with the sources" in result.stdout

    source = course_repo / "modules/01_tensor/tensor.py"
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("import numpy"))  # inside an exported cell
    lines.insert(at + 1, "import scipy\n")
    source.write_text("".join(lines), encoding="utf-8")
    _commit_all(course_repo, "seed an undeclared import")
    result = try_repo(hook_env, course_repo)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("Failed") == 2, result.stdout
    assert f"modules/01_tensor/tensor.py:{at + 2}: TT220" in result.stdout and "scipy" in result.stdout
    assert "tinytorch-verifier: stale export: tinytorch/core/tensor.py:" in result.stdout
    assert _status(course_repo) == ""  # the hooks wrote nothing
