"""Fixture courses for the verifier's tests: small course trees written into a temporary folder."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict, Optional, Union

from verifier.course.pycalendar import released

REPO = Path(__file__).resolve().parent.parent
EMBEDDED_COURSE = REPO / "course"

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
