"""Fixture courses for the verifier's tests: small course trees written into a temporary folder."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Dict, Optional, Union

REPO = Path(__file__).resolve().parent.parent
EMBEDDED_COURSE = REPO / "course"

# The real upstream TinyTorch snapshots (tinytorch-<commit>.tar.gz): ../shared/corpus beside the clone;
# TITO_TEST_CORPUS names another folder (a git worktree whose parent holds no shared/). Tests needing them
# use the `corpus_trees` fixture (tests/conftest.py), which skips with NO_CORPUS when there is none.
CORPUS = Path(os.environ.get("TITO_TEST_CORPUS") or REPO.parent / "shared" / "corpus")
CORPUS_SNAPSHOTS = sorted(p.name[len("tinytorch-"):-len(".tar.gz")] for p in CORPUS.glob("tinytorch-*.tar.gz")) \
    if CORPUS.is_dir() else []
NO_CORPUS = f"no TinyTorch corpus at {CORPUS} (shared/ beside the clone, or set TITO_TEST_CORPUS)"

# every Python requires-python allows has its classifier (TT235 stays quiet on fixture courses)
MATRIX_CLASSIFIERS = """\
classifiers = [
    "Programming Language :: Python :: 3.9",
    "Programming Language :: Python :: 3.10",
    "Programming Language :: Python :: 3.11",
    "Programming Language :: Python :: 3.12",
    "Programming Language :: Python :: 3.13",
]
"""

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
