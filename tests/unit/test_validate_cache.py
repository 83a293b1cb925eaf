"""The caches behind `package validate` after an edit (checks/module_cache.py, the module.yaml caches
of course/config.py and deps/resolve.py, the cells' parse outcome and facts of deps/cellfacts.py):
after each of several edits of a copy of the embedded course, the findings with the caches warm from
the previous runs equal the findings with the caches off; a corrupted, malformed or foreign cache entry
is ignored; TITO_VALIDATE_CACHE=0 turns them off."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable, List

import pytest
from helpers import EMBEDDED_COURSE

from verifier.checks.validate import run_validate
from verifier.deps import resolve

KINDS = ("validate-module", "module-yaml", "module-yaml-lines", "cell-facts")


def _copy(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    shutil.copytree(EMBEDDED_COURSE, course, ignore=shutil.ignore_patterns("tinytorch", "__pycache__", ".tito"))
    return course


def _findings(course: Path, monkeypatch: pytest.MonkeyPatch, cached: bool) -> str:
    monkeypatch.setenv("TITO_VALIDATE_CACHE", "1" if cached else "0")
    resolve._yaml_item_lines.cache_clear()  # the in-process memo would hide the disk cache (or its absence)
    text, code = run_validate(course, fmt="json")
    assert code in (0, 1), text
    payload = json.loads(text)
    return json.dumps(payload["findings"], indent=1)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _entries(cache: Path) -> List[Path]:
    return sorted(p for kind in KINDS for p in (cache / "tinytorch-verifier" / kind).glob("*.json"))


def test_after_each_edit_cached_findings_equal_uncached(tmp_path, monkeypatch):
    monkeypatch.setenv("TITO_CACHE", str(tmp_path / "cache"))
    course = _copy(tmp_path)
    modules = course / "modules"
    activations = modules / "03_activations" / "activations.py"
    layers = modules / "04_layers"
    dense = modules / "05_dense" / "dense.py"
    edits: List[Callable[[], None]] = [
        # a per-module finding (TT210, kept in the cache) that must survive the later edits elsewhere
        lambda: _edit(activations, "import numpy as np\n", "import numpy as np\nimport sys\nsys.path.append('x/y')\n"),
        # facts of 05_dense served from the cache while the later edits change other modules: an import
        # guarded by the Python version (a backport), a name only a non-exported cell defines (TT233),
        # a syntax error in a non-exported cell (TT008), a future import (annotations never evaluated)
        lambda: _edit(dense, "from tinytorch.core.activations import ReLU\n",
                      "from tinytorch.core.activations import ReLU\nimport sys\nif sys.version_info < (3, 11):\n"
                      "    import tomli\n"),
        lambda: _edit(dense, "    if not callable(layer):", "    test_unit_xor\n    if not callable(layer):"),
        lambda: _edit(dense, "def test_unit_mlp():", "def test_unit_mlp()"),
        lambda: _edit(dense, "#| export\nfrom tinytorch.core.layers import",
                      "#| export\nfrom __future__ import annotations\nimport tomli_w\n"
                      "from tinytorch.core.layers import"),
        # TT232 on the oldest Python (3.9), also kept per module
        lambda: _edit(activations, "def relu(x):", "def relu(x: int | None = None):"),
        # an undeclared import of a later module
        lambda: _edit(activations, "from tinytorch.core.autograd import Function\n",
                      "from tinytorch.core.autograd import Function\nfrom tinytorch.core.training import Trainer\n"),
        # an export removed: a cell the next modules import from is no longer exported
        lambda: _edit(activations, "#| export\nclass ReLU(", "class ReLU("),
        lambda: _edit(activations, "class ReLU(", "#| export\nclass ReLU("),
        # a renamed class used by a later module (05_dense imports ReLU)
        lambda: _edit(activations, "class ReLU(", "class Relu("),
        # a module.yaml dependency change
        lambda: _edit(layers / "module.yaml", "prerequisites: [", "prerequisites: [dense, "),
        # a syntax error in exported code
        lambda: _edit(activations, "def sigmoid(x):", "def sigmoid(x)"),
    ]
    previous = _findings(course, monkeypatch, cached=True)  # fills the caches
    assert _entries(tmp_path / "cache")
    assert previous == _findings(course, monkeypatch, cached=False)
    seen: List[str] = []
    for number, edit in enumerate(edits):
        edit()
        cached = _findings(course, monkeypatch, cached=True)
        uncached = _findings(course, monkeypatch, cached=False)
        assert cached == uncached, f"edit {number}: cached findings differ"
        assert _findings(course, monkeypatch, cached=True) == uncached, f"edit {number}: a second cached run differs"
        assert cached != previous, f"edit {number} changed no finding: the test would prove nothing"
        previous = cached
        seen.append(cached)
    for code in ("TT232", "TT118", "TT233", "TT008"):
        assert any(f'"{code}"' in step for step in seen), f"no edit produced {code}"
    assert '"TT210"' in previous  # the first edit's per-module finding survived the later edits


def _tamper(entry: Path, how: str, other: Path) -> None:
    if how == "garbage":
        entry.write_bytes(b"\x00{not json")
    elif how == "shape":
        entry.write_text(json.dumps({"key": 1, "groups": "x", "data": [], "lines": {"a": "b"}}), encoding="utf-8")
    elif how == "truncated":
        entry.write_bytes(entry.read_bytes()[: len(entry.read_bytes()) // 2])
    else:  # foreign: another entry's content, written for another key
        entry.write_bytes(other.read_bytes())


@pytest.mark.parametrize("how", ["garbage", "shape", "truncated", "foreign"])
def test_a_corrupted_or_foreign_entry_is_ignored_and_computed_again(tmp_path, monkeypatch, how):
    monkeypatch.setenv("TITO_CACHE", str(tmp_path / "cache"))
    course = _copy(tmp_path)
    _edit(course / "modules" / "03_activations" / "activations.py", "import numpy as np\n",
          "import numpy as np\nimport sys\nsys.path.append('x/y')\n")
    expected = _findings(course, monkeypatch, cached=False)
    assert _findings(course, monkeypatch, cached=True) == expected
    entries = _entries(tmp_path / "cache")
    for kind in KINDS:
        assert any(e.parent.name == kind for e in entries), f"no {kind} entry was written"
    for index, entry in enumerate(entries):
        _tamper(entry, how, entries[(index + 1) % len(entries)])
    assert _findings(course, monkeypatch, cached=True) == expected
    assert _findings(course, monkeypatch, cached=True) == expected  # the entries were written again


def test_the_cache_is_used_and_can_be_turned_off(tmp_path, monkeypatch):
    """An entry rewritten with its own key is served (so the cache is really read); with
    TITO_VALIDATE_CACHE=0 it is not, and none of these entries is written, nor the output cache's."""
    from verifier.checks.output_cache import validate_output

    cache = tmp_path / "cache"
    monkeypatch.setenv("TITO_CACHE", str(cache))
    course = _copy(tmp_path)
    _edit(course / "modules" / "03_activations" / "activations.py", "import numpy as np\n",
          "import numpy as np\nimport sys\nsys.path.append('x/y')\n")
    expected = _findings(course, monkeypatch, cached=False)
    assert not (cache / "tinytorch-verifier").exists() or not _entries(cache)
    _findings(course, monkeypatch, cached=True)
    marked = 0
    for entry in (cache / "tinytorch-verifier" / "validate-module").glob("*.json"):
        data = json.loads(entry.read_text(encoding="utf-8"))
        for group in data["groups"]:
            for finding in group:
                finding["issue"] = "SERVED FROM THE CACHE"
                marked += 1
        entry.write_text(json.dumps(data), encoding="utf-8")
    assert marked, "no per-module finding was kept"
    assert "SERVED FROM THE CACHE" in _findings(course, monkeypatch, cached=True)
    assert _findings(course, monkeypatch, cached=False) == expected
    shutil.rmtree(cache)
    monkeypatch.setenv("TITO_VALIDATE_CACHE", "0")
    validate_output(course, None, "json")
    validate_output(course, None, "json")
    assert not _entries(cache) and not list(cache.glob("tinytorch-verifier/validate-output/*.json"))


def test_after_an_edit_only_the_edited_source_is_parsed(tmp_path, monkeypatch):
    """The point of the cell-facts cache: with it warm, an edit of one module source parses that
    source's cells only (the others' facts come from the cache), and the findings equal a run
    without caches, which parses every cell."""
    import ast

    monkeypatch.setenv("TITO_CACHE", str(tmp_path / "cache"))
    course = _copy(tmp_path)
    edited = course / "modules" / "05_dense" / "dense.py"
    parsed: List[str] = []
    original = ast.parse

    def counting(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        parsed.append(source if isinstance(source, str) else "")
        return original(source, *args, **kwargs)

    _findings(course, monkeypatch, cached=True)  # fills the caches
    _edit(edited, "    if not callable(layer):", "    test_unit_xor\n    if not callable(layer):")
    monkeypatch.setattr(ast, "parse", counting)
    cached = _findings(course, monkeypatch, cached=True)
    after_edit = list(parsed)
    parsed.clear()
    assert cached == _findings(course, monkeypatch, cached=False)
    uncached = list(parsed)
    assert '"TT233"' in cached
    text = edited.read_text(encoding="utf-8")
    foreign = [source[:300] for source in after_edit if source not in text]
    assert after_edit and not foreign, f"a cell of an unchanged source was parsed: {foreign}"
    assert len(uncached) > 5 * len(after_edit)  # without the cache every cell of the course is parsed


def test_cached_by_content_serves_rejects_and_stays_off(tmp_path, monkeypatch):
    """The one helper behind the content-keyed caches (module.yaml, its item lines, the cell facts)."""
    from verifier.cache import cached_by_content

    monkeypatch.setenv("TITO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TITO_VALIDATE_CACHE", "1")
    calls: List[str] = []

    def compute(text: str) -> Callable[[], List[str]]:
        return lambda: calls.append(text) or [text.upper()]

    def keep_list(raw: object) -> object:
        return raw if isinstance(raw, list) else None

    assert cached_by_content("t-kind", "abc", compute("abc"), list, keep_list) == ["ABC"]
    assert cached_by_content("t-kind", "abc", compute("abc"), list, keep_list) == ["ABC"]
    assert calls == ["abc"]  # the second call was served from the entry
    assert cached_by_content("t-kind", "abc", compute("abc"), list, lambda raw: None) == ["ABC"]
    assert calls == ["abc", "abc"]  # an entry the caller rejects is computed again
    assert cached_by_content("t-kind", "xyz", compute("xyz"), list, keep_list, keep=lambda v: False) == ["XYZ"]
    assert cached_by_content("t-kind", "xyz", compute("xyz"), list, keep_list) == ["XYZ"]
    assert calls == ["abc", "abc", "xyz", "xyz"]  # a value `keep` refused was never written
    monkeypatch.setenv("TITO_VALIDATE_CACHE", "0")
    assert cached_by_content("t-off", "abc", compute("abc"), list, keep_list) == ["ABC"]
    assert not (tmp_path / "cache" / "tinytorch-verifier" / "t-off").exists()
