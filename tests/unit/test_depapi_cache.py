"""collect_uses (runner/depapi.py) reads each file's AST once per run: a second venv's identical file gives
the same uses naming its own path, and a changed file is read again."""
from __future__ import annotations

from pathlib import Path

from verifier.runner.depapi import collect_uses


def _package(root: Path, text: str) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text(text, encoding="utf-8")
    return root / "pkg"


def test_identical_files_in_two_venvs_give_uses_that_name_their_own_file(tmp_path):
    text = "import numpy as np\nX = np.row_stack([[1], [2]])\nY = np.mean([1.0], keepdims=True)\n"
    first = collect_uses(_package(tmp_path / "a", text), ["pkg"])
    second = collect_uses(_package(tmp_path / "b", text), ["pkg"])
    assert [u.dotted for u in first] == [u.dotted for u in second] == ["numpy.row_stack", "numpy.mean"]
    assert {u.file for u in first} == {tmp_path / "a" / "pkg" / "__init__.py"}
    assert {u.file for u in second} == {tmp_path / "b" / "pkg" / "__init__.py"}
    changed = collect_uses(_package(tmp_path / "c", text.replace("row_stack", "vstack")), ["pkg"])
    assert [u.dotted for u in changed] == ["numpy.vstack", "numpy.mean"]
    assert collect_uses(_package(tmp_path / "d", text), ["pkg", "numpy"]) == []   # numpy as own: no uses
