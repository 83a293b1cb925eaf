"""Fixture courses for the verifier's tests: small course trees written into a temporary folder."""
from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Union

from verifier.course.pycalendar import released

REPO = Path(__file__).resolve().parent.parent
EMBEDDED_COURSE = REPO / "course"

# The real upstream TinyTorch snapshots (tinytorch-<commit>.tar.gz): ../shared/corpus beside the clone;
# TITO_TEST_CORPUS names another folder (a git worktree whose parent holds no shared/). Tests needing them
# use the `corpus_trees` fixture (tests/conftest.py), which skips with NO_CORPUS when there is none.
CORPUS = Path(os.environ.get("TITO_TEST_CORPUS") or REPO.parent / "shared" / "corpus")
CORPUS_SNAPSHOTS = sorted(p.name[len("tinytorch-"):-len(".tar.gz")] for p in CORPUS.glob("tinytorch-*.tar.gz")) \
    if CORPUS.is_dir() else []
NO_CORPUS = f"no TinyTorch corpus at {CORPUS} (shared/ beside the clone, or set TITO_TEST_CORPUS)"

# every released Python requires-python (">=3.9") allows has its classifier, from the release calendar at
# today's date (TT235 stays quiet on fixture courses when a Python is added to the calendar)
MATRIX_CLASSIFIERS = "classifiers = [\n" + "".join(
    f'    "Programming Language :: Python :: {major}.{minor}",\n' for major, minor in released() if minor >= 9) + "]\n"



def without_eol_advisory(findings):
    """The findings without TT236: fixture courses (and the embedded course) keep 3.9 as their oldest
    Python, to exercise the oldest-Python checks; 3.9 is past its end of life, so TT236 (a warning that
    never blocks) is expected on each of them and is tested on its own in test_matrix_check.py."""
    return [f for f in findings if f.code != "TT236"]


PYPROJECT = """\
[project]
name = "tinytorch"
version = "0.3.1"
requires-python = ">=3.9"
dependencies = ["numpy>=1.22"]
""" + MATRIX_CLASSIFIERS


def write_files(root: Path, files: Dict[str, Optional[Union[str, bytes]]]) -> Path:
    """{relative path: text or bytes} under `root`; None leaves a file out. The one way tests write trees."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        if text is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return root


def write_course(root: Path, modules: Dict[str, str], pyproject: Optional[str] = PYPROJECT,
                 yamls: Optional[Dict[str, str]] = None) -> Path:
    """A small layout-A course: modules {"01_alpha/alpha.py": source}; yamls {"01_alpha": module.yaml}."""
    files: Dict[str, Optional[Union[str, bytes]]] = {"pyproject.toml": pyproject}
    files.update({f"modules/{rel}": textwrap.dedent(text) for rel, text in modules.items()})
    files.update({f"modules/{folder}/module.yaml": textwrap.dedent(text) for folder, text in (yamls or {}).items()})
    return write_files(root, files)


MINI_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "tinytorch"
version = "0.0.1"
requires-python = ">=3.9"
dependencies = ["numpy"]
""" + MATRIX_CLASSIFIERS + """
[tool.setuptools.packages.find]
include = ["tinytorch*"]
"""

MINI_MODULE = """\
# %%
#| default_exp core.alpha

# %%
#| export
import numpy as np

def double(x):
    return 2 * np.asarray(x)
"""


# Root passes permission checks through CAP_DAC_OVERRIDE (and CAP_DAC_READ_SEARCH): a test of an unwritable
# folder runs its `tinytorch-verifier` child with both dropped from the capability bounding set, so that root meets the
# folder's mode like any user (CI runs as root). None where it cannot be done (no setpriv or CAP_SETPCAP).
_DROP_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def without_permission_override() -> Optional[List[str]]:
    """The command prefix that makes permission bits bind: [] for a non-root user, setpriv for root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None or subprocess.run([*_DROP_OVERRIDE, "true"]).returncode != 0:
        return None
    return list(_DROP_OVERRIDE)
