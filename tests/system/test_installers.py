"""System test: uv and pip resolve the same versions for the same course wheel under the same lock
(wheels only), so switching the installer cannot change what a release is verified against."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from verifier.course.discovery import load_course
from verifier.package.build import build_course
from verifier.package.locks import constraints_for
from verifier.runner.envs import create_venv, find_uv

REPO = Path(__file__).resolve().parents[2]
PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.mark.system
@pytest.mark.skipif(find_uv() is None, reason="uv is not installed")
def test_pip_and_uv_resolve_identical_versions_under_the_lock(tmp_path):
    course = load_course(REPO / "course")
    artifacts, _ = build_course(course, tmp_path / "dist", tmp_path / "work")
    lock = constraints_for(course, PYTHON, False)
    installed = {}
    for installer in ("pip", "uv"):
        venv = create_venv(Path(sys.executable), tmp_path / f"venv-{installer}")
        done = venv.install([str(artifacts.wheel)], constraints=lock.pins if lock else None, installer=installer)
        assert done.ok, done.tail(20)
        installed[installer] = venv.installed("pip")  # listed the same way for both
    assert installed["pip"] == installed["uv"]
    assert "numpy" in installed["uv"] and "tinytorch" in installed["uv"]
