"""Fixture courses for the verifier's tests: small course trees written into a temporary folder."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Dict, Optional

REPO = Path(__file__).resolve().parent.parent
EMBEDDED_COURSE = REPO / "course"

PYPROJECT = """\
[project]
name = "tinytorch"
version = "0.3.1"
requires-python = ">=3.9"
dependencies = ["numpy>=1.22"]
classifiers = [
    "Programming Language :: Python :: 3.9",
    "Programming Language :: Python :: 3.10",
    "Programming Language :: Python :: 3.11",
    "Programming Language :: Python :: 3.12",
    "Programming Language :: Python :: 3.13",
]
"""


def write_course(root: Path, modules: Dict[str, str], pyproject: Optional[str] = PYPROJECT,
                 yamls: Optional[Dict[str, str]] = None) -> Path:
    """modules: {"01_alpha/alpha.py": source}; yamls: {"01_alpha": module.yaml text}."""
    root.mkdir(parents=True, exist_ok=True)
    if pyproject is not None:
        (root / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    for rel, text in modules.items():
        path = root / "modules" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    for folder, text in (yamls or {}).items():
        (root / "modules" / folder / "module.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return root


MINI_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "tinytorch"
version = "0.0.1"
requires-python = ">=3.9"
dependencies = ["numpy"]
classifiers = ["Programming Language :: Python :: 3.9", "Programming Language :: Python :: 3.10", "Programming Language :: Python :: 3.11", "Programming Language :: Python :: 3.12", "Programming Language :: Python :: 3.13"]

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
