"""Free-threaded builds (`--python 3.14t`): discovery looks for python3.14t and trusts a candidate only
when it answers as a free-threaded build; a plain 3.14 never takes one, and a missing one is named as
free-threaded in the one-line NOT VERIFIED reason. Stub interpreters are shell scripts."""
from __future__ import annotations

import os
import stat

import pytest

from verifier.course.matrix import version_key
from verifier.runner import interpreters

pytestmark = pytest.mark.skipif(os.name != "posix", reason="shell-script stub interpreters")


def _stub(path, free_threaded: bool, full="3.14.2"):
    """A script answering the discovery probe like CPython `full` (free-threaded or not) would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    major, minor, micro = full.split(".")
    answer = (f'{{"version": [{major}, {minor}, {micro}], "full": "{full}", "executable": "{path}", '
              f'"free_threaded": {"true" if free_threaded else "false"}}}')
    path.write_text(f"#!/bin/sh\necho '{answer}'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Discovery sees only tmp_path: PATH, pyenv, asdf and uv roots point there."""
    for name, sub in (("PATH", "bin"), ("PYENV_ROOT", "pyenv"), ("ASDF_DATA_DIR", "asdf"),
                      ("UV_PYTHON_INSTALL_DIR", "uv")):
        monkeypatch.setenv(name, str(tmp_path / sub))
    monkeypatch.setattr(interpreters, "candidate_places", _without_system(interpreters.candidate_places))
    return tmp_path


def _without_system(places):
    def wrapped(version):  # /usr/bin and friends are this machine's, not the test's
        return ((where, path) for where, path in places(version) if not where.startswith("/"))
    return wrapped


def test_free_threaded_is_found_by_its_name_and_answer(isolated):
    _stub(isolated / "bin" / "python3.14t", free_threaded=True)
    found = interpreters.find_interpreter("3.14t")
    assert found.interpreter is not None and found.interpreter.path.name == "python3.14t"
    assert found.interpreter.version == "3.14t" and found.interpreter.free_threaded


def test_a_gil_build_named_python3_14t_is_not_trusted_and_plain_3_14_never_takes_a_free_threaded_one(isolated):
    _stub(isolated / "bin" / "python3.14t", free_threaded=False)          # lies by its name
    _stub(isolated / "pyenv" / "versions" / "3.14.2" / "bin" / "python3.14", free_threaded=True)
    assert interpreters.find_interpreter("3.14t").interpreter is None
    assert interpreters.find_interpreter("3.14").interpreter is None


def test_pyenv_and_uv_folders_of_free_threaded_builds(isolated):
    _stub(isolated / "pyenv" / "versions" / "3.14.2" / "bin" / "python3.14", free_threaded=False)
    _stub(isolated / "pyenv" / "versions" / "3.14.2t" / "bin" / "python3.14t", free_threaded=True)
    _stub(isolated / "uv" / "cpython-3.15.1+freethreaded-linux-x86_64-gnu" / "bin" / "python3.15t",
          free_threaded=True, full="3.15.1")
    assert interpreters.find_interpreter("3.14t").interpreter.path.parent.parent.name == "3.14.2t"
    assert interpreters.find_interpreter("3.14").interpreter.path.parent.parent.name == "3.14.2"
    assert interpreters.find_interpreter("3.15t").interpreter.full_version == "3.15.1"


def test_missing_free_threaded_build_is_named_in_one_line(isolated):
    missing = interpreters.find_interpreter("3.15t")
    assert missing.interpreter is None
    line = missing.describe_missing()
    assert line.startswith("no free-threaded interpreter (python3.15t) for 3.15t found; looked in: PATH")
    assert "\n" not in line


def test_free_threaded_names_sort_after_their_release():
    assert sorted(["3.15t", "3.14t", "3.15", "3.9", "3.14"], key=version_key) == \
        ["3.9", "3.14", "3.14t", "3.15", "3.15t"]
