"""System tests: the fault corpus lives beside them; the catch rate is printed after a run. Also the
verifier's own sdist and wheel, built once per session for the tests that install it (publish, beside
upstream's tito)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

TREE_IGNORE = shutil.ignore_patterns(".git", ".venv", ".venv-*", ".nox", "reports", "dist", "build",
                                     "*.egg-info", "__pycache__", "node_modules", "tinytorch", ".tito")


@pytest.fixture(scope="session")
def verifier_dist(tmp_path_factory) -> Path:
    """The folder holding the verifier's sdist + wheel, built by `python -m build` from a copy of this tree
    (the build never writes into the checkout); once per session (about 15 s)."""
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


def pytest_terminal_summary(terminalreporter):
    try:
        from faults import FAULTS
        from test_faults import CAUGHT
    except ImportError:
        return
    ran = [r for r in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
           if "test_fault_is_caught" in r.nodeid]
    if ran:
        terminalreporter.write_line(f"fault catch rate: {len(CAUGHT)}/{len(ran)} seeded faults caught with the "
                                    f"right stage and module ({len(FAULTS)} in the corpus)")
