"""The dependency-api stage's two halves: the static collector (aliases resolved from the AST, guards
that must not fire) and the probe (run in a real interpreter; stdlib names stand in for NumPy's, so the
test needs no venv with NumPy — the fault corpus runs it against the real NumPy of each Python)."""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from verifier.runner.depapi import ApiUse, api_stage, collect_uses, misses, probe
from verifier.runner.envs import Venv

MARKER = "# %% modules/16_mlops/mlops.py:100 (cell 3)\n"


def _package(tmp_path: Path, code: str) -> Path:
    folder = tmp_path / "tinytorch" / "core"
    folder.mkdir(parents=True)
    (tmp_path / "tinytorch" / "__init__.py").write_text("")
    (folder / "mlops.py").write_text(MARKER + textwrap.dedent(code))
    return tmp_path / "tinytorch"


def _names(tmp_path: Path, code: str):
    return {(u.dotted, u.keywords) for u in collect_uses(_package(tmp_path, code), {"tinytorch"})}


def test_aliases_are_resolved_statically(tmp_path):
    found = _names(tmp_path, """
        import numpy as np
        from numpy import linalg as la
        from numpy.linalg import norm
        import numpy.random
        def f(x):
            np.row_stack([x])
            la.norm(x, axis=0, keepdims=True)
            norm(x, ord=2)
            return numpy.random.default_rng(seed=1)
        """)
    assert ("numpy.row_stack", ()) in found
    assert ("numpy.linalg.norm", ("axis", "keepdims")) in found
    assert ("numpy.linalg.norm", ("ord",)) in found  # a from-imported name: its call's keywords
    assert ("numpy.linalg.norm", ()) in found          # ... and its import line
    assert ("numpy.random.default_rng", ("seed",)) in found


def test_guarded_assigned_shadowed_and_stdlib_uses_are_not_collected(tmp_path):
    found = _names(tmp_path, """
        import numpy as np
        import math
        from tinytorch.core.tensor import Tensor
        np.my_patch = np.vstack
        try:
            _old = np.in1d
        except AttributeError:
            _old = None
        _trapz = getattr(np, "trapezoid", None) or np.trapz
        if hasattr(np, "unstack"):
            _un = np.unstack
        try:
            from numpy import row_stack
        except ImportError:
            row_stack = None
        def f(np):
            return np.no_such_thing
        g = lambda np: np.no_such_either
        def h():
            return np.my_patch, math.no_such, Tensor.whatever
        """)
    dotted = {d for d, _ in found}
    assert dotted == {"numpy.vstack"}, dotted


def test_probe_answers_missing_names_and_rejected_keywords(tmp_path):
    venv = Venv(Path(sys.prefix))  # any interpreter: the probe imports what it is asked about
    uses = [ApiUse("textwrap.indent", "textwrap.indent", ("prefix", "no_such_keyword"), tmp_path / "x.py", 1),
            ApiUse("json.no_such_name", "js.no_such_name", (), tmp_path / "x.py", 2),
            ApiUse("json.decoder.JSONDecoder.decode", "json.decoder.JSONDecoder.decode", (), tmp_path / "x.py", 3),
            ApiUse("no_such_module_xyz.f", "no_such_module_xyz.f", (), tmp_path / "x.py", 4),
            ApiUse("json.dumps", "json.dumps", ("anything",), tmp_path / "x.py", 5)]  # **kw: any keyword goes
    answer, why = probe(venv, uses)
    assert answer is not None, why
    assert answer.missing == {1: "json.no_such_name"}
    assert answer.keywords == {0: ["no_such_keyword"]}
    assert answer.unavailable == ["no_such_module_xyz"]
    described = [m.what for m in misses(uses, answer)]
    assert described == ["`textwrap.indent()` takes no keyword `no_such_keyword`", "`js.no_such_name` does not exist"]


def test_stage_names_the_students_file_and_line(tmp_path):
    # yaml stands in for a third-party library that lacks a name: a stdlib module is never collected
    package = _package(tmp_path, """
        import json as js
        def f():
            return js.no_such_name
        """)
    uses = collect_uses(package, {"tinytorch"})
    assert uses == []  # json is the standard library: not this stage's business (TT231 is)
    venv = Venv(Path(sys.prefix))
    stage = api_stage(venv, package, {"tinytorch"}, "3.11")
    assert stage.ok and "no third-party" in stage.detail
    answer, _ = probe(venv, [ApiUse("json.no_such_name", "js.no_such_name", (), package / "core" / "mlops.py", 4)])
    assert answer is not None
    (miss,) = misses([ApiUse("json.no_such_name", "js.no_such_name", (), package / "core" / "mlops.py", 4)], answer)
    assert miss.describe("3.11").endswith("(Python 3.11): modules/16_mlops/mlops.py:102")
