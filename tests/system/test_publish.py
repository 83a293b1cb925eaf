"""The verifier as a publishable package: `python -m build` of a copy of this tree makes an sdist and
a wheel that `twine check` passes (and a wheel with broken metadata fails it); installed from that
wheel into a fresh venv, `tito --version` prints the distribution's version and `tito verify` in an
empty folder says, in one line and exit 2, that there is no course (no course ships in the wheel)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import REPO

pytestmark = pytest.mark.system

TREE_IGNORE = shutil.ignore_patterns(".git", ".venv", ".nox", "reports", "dist", "build", "*.egg-info", "__pycache__",
                                     "node_modules", "tinytorch", ".tito")


def _tool(name: str) -> Path:
    exe = Path(sys.executable).with_name(name)
    if not exe.is_file():
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return exe


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """sdist + wheel built from a copy of the tree (the build never writes into the checkout)."""
    work = tmp_path_factory.mktemp("publish")
    tree = work / "tree"
    shutil.copytree(REPO, tree, ignore=TREE_IGNORE)
    out = work / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(tree)],
                           capture_output=True, text=True, timeout=900)
    if built.returncode != 0 and "Could not find a version that satisfies" in built.stdout + built.stderr:
        pytest.skip("the build backend cannot be installed (no package index reachable)")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


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
    assert "License-Expression: MIT" in metadata and licensed
    assert "Keywords: " in metadata
    for minor in range(9, 16):
        assert f"Classifier: Programming Language :: Python :: 3.{minor}\n" in metadata
    assert "Requires-Python: >=3.9" in metadata


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
    tito = venv / ("Scripts/tito.exe" if os.name == "nt" else "bin/tito")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TITO_COURSE"}
    shown = subprocess.run([str(tito), "--version"], capture_output=True, text=True, cwd=empty, env=env, timeout=120)
    assert shown.returncode == 0 and shown.stdout.strip() == f"tito {version('tinytorch-verifier')}", shown
    run = subprocess.run([str(tito), "verify"], capture_output=True, text=True, cwd=empty, env=env, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.strip() == \
        "tito: error: no course found: run tito inside a TinyTorch checkout or pass --course PATH"
