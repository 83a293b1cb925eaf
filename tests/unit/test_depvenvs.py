"""The cached dependency venvs (runner/depvenvs.py) sit in a folder the user names (TITO_CACHE): a
venv there is reused or remade only when it carries tinytorch-verifier's mark; a folder of the user's (or a link)
at that path is refused with one line and left byte-for-byte as it was, nothing created in its place."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import EMBEDDED_COURSE
from test_ownership import snapshot

from verifier.course.discovery import load_course
from verifier.ownership import MARK, RefusedTarget
from verifier.runner import depvenvs
from verifier.runner.interpreters import Interpreter

INTERPRETER = Interpreter(f"{sys.version_info.major}.{sys.version_info.minor}", Path(sys.executable), "3.x.y")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TITO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def made(monkeypatch):
    """Venvs `create_venv` was asked to make (a fake one: a folder with bin/python, installs succeed)."""
    calls = []

    def fake_create(interpreter, where, installer="pip", version=""):
        assert installer in ("uv", "pip") and version == INTERPRETER.version
        calls.append(where)
        where.mkdir(parents=True)
        (where / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (where / "bin").mkdir()
        (where / "bin" / "python").write_text("")
        return SimpleNamespace(root=where, python=where / "bin" / "python",
                               install=lambda *a, **k: SimpleNamespace(ok=True))
    monkeypatch.setattr(depvenvs, "create_venv", fake_create)
    return calls


def _home(course):
    return depvenvs.venv_home(course, INTERPRETER, None, "quick")


def test_a_folder_of_the_users_at_the_cache_path_is_refused_and_kept(cache, made):
    course = load_course(EMBEDDED_COURSE)
    home = _home(course)
    home.mkdir(parents=True)
    (home / "notes.txt").write_text("mine\n")
    (home / "pyvenv.cfg").write_text("home = /usr/bin\n")  # even a venv: tinytorch-verifier did not make it
    before = snapshot(home)
    with pytest.raises(RefusedTarget, match="holds files tinytorch-verifier did not make"):
        depvenvs.dependency_venv(course, INTERPRETER, None)
    assert snapshot(home) == before
    assert made == []


def test_a_link_at_the_cache_path_is_refused_and_its_target_kept(cache, made, tmp_path):
    course = load_course(EMBEDDED_COURSE)
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / MARK).write_text("a mark does not make a link tito's\n")
    before = snapshot(target)
    home = _home(course)
    home.parent.mkdir(parents=True, exist_ok=True)  # reading the course may have made the cache folder
    home.symlink_to(target)
    with pytest.raises(RefusedTarget, match="symbolic link"):
        depvenvs.dependency_venv(course, INTERPRETER, None)
    assert snapshot(target) == before and home.is_symlink()
    assert made == []


def test_a_venv_tito_made_is_reused_when_ready_and_remade_when_not(cache, made):
    course = load_course(EMBEDDED_COURSE)
    first = depvenvs.dependency_venv(course, INTERPRETER, None)
    home = _home(course)
    assert made == [home] and (home / MARK).is_file() and (home / depvenvs.READY).is_file()
    assert depvenvs.dependency_venv(course, INTERPRETER, None).root == first.root == home
    assert len(made) == 1  # reused, not made again
    (home / depvenvs.READY).unlink()  # an install that never finished: tinytorch-verifier's own, so remade
    (home / "half-installed").write_text("")
    depvenvs.dependency_venv(course, INTERPRETER, None)
    assert made == [home, home] and not (home / "half-installed").exists()


def test_the_cache_path_changes_with_the_dependencies(cache):
    course = load_course(EMBEDDED_COURSE)
    other = load_course(EMBEDDED_COURSE)
    other.pyproject["project"]["dependencies"] = ["numpy>=2"]
    assert other.dependencies != course.dependencies
    assert _home(course) != _home(other)
