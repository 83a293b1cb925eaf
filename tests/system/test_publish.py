"""The verifier as a publishable package: `python -m build` of a copy of this tree makes an sdist and
a wheel that `twine check` passes (and a wheel with broken metadata fails it); the wheel declares one
console script, `tinytorch-verifier` (never `tito`, upstream TinyTorch's); installed from that wheel into a
fresh venv, `tinytorch-verifier --version` and `python -m verifier --version` print the distribution's
version, no `tito` script appears, and `tinytorch-verifier verify` in an empty folder says, in one line and
exit 2, that there is no course (no course ships in the wheel)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.system


def _tool(name: str) -> Path:
    exe = Path(sys.executable).with_name(name)
    if not exe.is_file():
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return exe


@pytest.fixture(scope="module")
def dist(verifier_dist) -> Path:
    """sdist + wheel built from a copy of the tree, once per session (tests/system/conftest.py)."""
    return verifier_dist


def test_twine_check_passes_on_sdist_and_wheel(dist):
    files = sorted(dist.iterdir())
    assert sorted(p.suffix for p in files) == [".gz", ".whl"], files
    checked = subprocess.run([str(_tool("twine")), "check", "--strict", *map(str, files)],
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2


def test_wheel_metadata_is_complete(dist):
    wheel = next(dist.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
        licensed = any(n.endswith("licenses/LICENSE") for n in archive.namelist())
        entry_points = next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
        scripts = _console_scripts(archive.read(entry_points).decode())
    assert "License-Expression: MIT" in metadata and licensed
    assert "Keywords: " in metadata
    for minor in range(9, 16):
        assert f"Classifier: Programming Language :: Python :: 3.{minor}\n" in metadata
    assert "Requires-Python: >=3.9" in metadata
    assert scripts == ["tinytorch-verifier = verifier.cli:main"], scripts  # never `tito`: upstream's name


def _console_scripts(entry_points: str) -> list[str]:
    """The lines of an entry_points.txt's [console_scripts] section."""
    lines: list[str] = []
    inside = False
    for line in entry_points.splitlines():
        if line.startswith("["):
            inside = line.strip() == "[console_scripts]"
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def test_twine_check_fails_on_broken_metadata(dist, tmp_path):
    """The check above can fail: the same wheel with a README declared as reStructuredText that is not."""
    wheel = next(dist.glob("*.whl"))
    broken = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith(".dist-info/METADATA"):
                text = data.decode().replace("Description-Content-Type: text/markdown",
                                             "Description-Content-Type: text/x-rst")
                data = (text + "\n\n`unclosed reference\n\n.. unknown-directive::\n").encode()
            target.writestr(item, data)
    checked = subprocess.run([str(_tool("twine")), "check", "--strict", str(broken)],
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode != 0 and "FAILED" in checked.stdout, checked.stdout


def test_installed_wheel_version_and_no_course_message(dist, tmp_path):
    from importlib.metadata import version

    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    venv = tmp_path / "venv"
    made = subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], capture_output=True, text=True,
                          timeout=300)
    assert made.returncode == 0, made.stderr
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    wheel = next(dist.glob("*.whl"))
    installed = subprocess.run([uv, "pip", "install", "--python", str(python), str(wheel)],
                               capture_output=True, text=True, timeout=900)
    if installed.returncode != 0 and "No solution found" in installed.stderr:
        pytest.skip(f"the verifier's dependencies cannot be installed here: {installed.stderr.strip()[-300:]}")
    assert installed.returncode == 0, installed.stderr
    scripts = venv / ("Scripts" if os.name == "nt" else "bin")
    command = scripts / ("tinytorch-verifier.exe" if os.name == "nt" else "tinytorch-verifier")
    assert not list(scripts.glob("tito*")), "the wheel installed a `tito` script (upstream TinyTorch's name)"
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TITO_COURSE"}
    expected = f"tinytorch-verifier {version('tinytorch-verifier')}"
    for argv in ([str(command)], [str(python), "-m", "verifier"]):
        shown = subprocess.run([*argv, "--version"], capture_output=True, text=True, cwd=empty, env=env,
                               timeout=120)
        assert shown.returncode == 0 and shown.stdout.strip() == expected, shown
    run = subprocess.run([str(command), "verify"], capture_output=True, text=True, cwd=empty, env=env, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.strip() == "tinytorch-verifier: error: no course found: run tinytorch-verifier inside a " \
                                 "TinyTorch checkout or pass --course PATH"
