"""The verifier installs beside upstream TinyTorch's own `tito` without replacing it (issue 25).

Upstream's pyproject.toml declares `tito = "tito.main:main"`; the verifier's wheel declares only
`tinytorch-verifier`, so in one venv neither replaces the other's script. Here a real upstream snapshot
(../shared/corpus, one whose pyproject.toml declares `tito`) is installed editable (`uv pip install -e`, with
its real dependencies: numpy, rich, PyYAML) and the verifier from its wheel, into a fresh venv made by uv, in
both orders. After both: `tito --help` prints upstream's text, `tinytorch-verifier --help` and
`python -m verifier --help` print the verifier's, and the venv holds one `tito` entry point, upstream's.

The corpus snapshots are cut down to what a release check reads: upstream's `tito/` package itself is not in
them. The test writes a small `tito/main.py` into its copy of the snapshot (upstream's pyproject.toml, entry
point and package discovery untouched) whose `--help` answers with a text of its own. What is under test is
whose `tito` script the venv ends up with, which that text shows as well as upstream's full CLI would. With
the earlier wheel (`tito = "verifier.cli:main"`) installed second, `tito --help` printed the verifier's usage
and this test failed.

Skips, saying why, without the corpus or a reachable package index. The wheel is built once per session
(tests/system/conftest.py, shared with test_publish.py); each order then takes a few seconds (uv's cache)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

pytestmark = pytest.mark.system

UPSTREAM_ENTRY_POINT = 'tito = "tito.main:main"'
# the snapshots that declare `tito`, newest first (tinytorch-4246c759 is a placeholder package without it)
DECLARING = ("52e1cf6f", "ce776937")
UPSTREAM_HELP = "TinyTorch's course CLI (stand-in)"  # short: argparse wraps a long description
OUR_HELP = "TinyTorch release guardian."
STAND_IN = f'''"""Stand-in for upstream TinyTorch's tito/main.py, which the cut-down corpus snapshot does not hold."""
import argparse


def main():
    parser = argparse.ArgumentParser(prog="tito", description={UPSTREAM_HELP!r})
    parser.add_argument("command", nargs="?")
    parser.parse_args()
    return 0
'''
# what uv says when it cannot reach an index (then the test skips instead of failing)
OFFLINE = ("No solution found", "Failed to fetch", "error sending request", "dns error", "Could not connect")
SCRIPTS = "Scripts" if os.name == "nt" else "bin"
EXE = ".exe" if os.name == "nt" else ""


def _uv() -> str:
    beside = Path(sys.executable).with_name("uv" + EXE)  # the uv of the venv running the tests
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if not found:
        pytest.skip("uv is not installed (pip install -e '.[test]')")
    return found


@pytest.fixture(scope="module")
def upstream_tree(corpus_trees: Dict[str, Path], tmp_path_factory) -> Path:
    """A copy of the newest snapshot declaring upstream's `tito`, with the stand-in tito/main.py."""
    commit = next((c for c in DECLARING if c in corpus_trees), None)
    if commit is None:
        pytest.skip(f"no corpus snapshot declares upstream's `tito` (looked for {', '.join(DECLARING)})")
    source = corpus_trees[commit]
    assert UPSTREAM_ENTRY_POINT in (source / "pyproject.toml").read_text(encoding="utf-8")
    assert not (source / "tito").exists(), "the snapshot now holds tito/: drop the stand-in and use upstream's"
    tree = tmp_path_factory.mktemp("upstream") / f"tinytorch-{commit}"
    shutil.copytree(source, tree)
    (tree / "tito").mkdir()
    (tree / "tito" / "__init__.py").write_text("", encoding="utf-8")
    (tree / "tito" / "main.py").write_text(STAND_IN, encoding="utf-8")
    return tree


def _install(uv: str, python: Path, *what: str) -> None:
    done = subprocess.run([uv, "pip", "install", "--python", str(python), *what], capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0 and any(word in done.stderr for word in OFFLINE):
        pytest.skip(f"no package index reachable to install {what[-1]}: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stderr


def _run(argv: List[str], cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("TITO_COURSE", "PYTHONPATH")}
    done = subprocess.run(argv, capture_output=True, text=True, cwd=str(cwd), env=env, timeout=120)
    assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
    return done.stdout


LIST_SCRIPTS = """import json
from importlib.metadata import distributions
print(json.dumps(sorted([d.metadata["Name"], ep.name, ep.value] for d in distributions() for ep in d.entry_points
                        if ep.group == "console_scripts" and ep.name in ("tito", "tinytorch-verifier"))))
"""


@pytest.mark.parametrize("order", ["upstream first", "verifier first"])
def test_both_commands_answer_with_their_own_text(order, upstream_tree, verifier_dist, tmp_path):
    uv = _uv()
    venv = tmp_path / "venv"
    made = subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], capture_output=True, text=True,
                          timeout=300)
    assert made.returncode == 0, made.stderr
    python = venv / SCRIPTS / f"python{EXE}"
    upstream = ("-e", str(upstream_tree))
    ours = (str(next(verifier_dist.glob("*.whl"))),)
    for what in ((upstream, ours) if order == "upstream first" else (ours, upstream)):
        _install(uv, python, *what)

    elsewhere = tmp_path / "elsewhere"  # not the upstream tree, not this repository: nothing found by cwd
    elsewhere.mkdir()
    tito = _run([str(venv / SCRIPTS / f"tito{EXE}"), "--help"], elsewhere)
    assert tito.startswith("usage: tito") and UPSTREAM_HELP in tito and OUR_HELP not in tito, tito
    for argv in ([str(venv / SCRIPTS / f"tinytorch-verifier{EXE}")], [str(python), "-m", "verifier"]):
        ours_help = _run([*argv, "--help"], elsewhere)
        assert ours_help.startswith("usage: tinytorch-verifier") and OUR_HELP in ours_help, ours_help
        assert UPSTREAM_HELP not in ours_help
    declared = json.loads(_run([str(python), "-c", LIST_SCRIPTS], elsewhere))
    assert declared == [["tinytorch", "tito", "tito.main:main"],
                        ["tinytorch-verifier", "tinytorch-verifier", "verifier.cli:main"]], declared
