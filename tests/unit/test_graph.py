"""The dependency graph (`tinytorch-verifier package deps`): import extraction, declared versus actual, cycles
reported whole with their import lines, build order and the text/mermaid/dot/json renderings."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from validation_courses import ACTIVATIONS, LAYERS, LAYOUT_C, line_of, module_yaml, percent, write_layout

from verifier.course.discovery import load_course
from verifier.deps.graph import (
    bound_names,
    course_graph,
    extract_imports,
    render_dot,
    render_mermaid,
    run_deps,
    yaml_item_lines,
)

ACT_PY = "modules/02_activations/activations.py"
LAYERS_PY = "modules/03_layers/layers.py"

CODE = '''\
import os, numpy as np
from typing import TYPE_CHECKING
from .tensor import Tensor
from .. import core
try:
    from tinytorch.core.autograd import Variable
except ImportError:
    from autograd_dev import Variable
if TYPE_CHECKING:
    from tinytorch.core.layers import Linear


def f():
    from tinytorch.core.losses import mse
    import importlib
    return importlib.import_module("tinytorch.core.optim")


class C:
    import math
'''


def _cycle_course(tmp_path: Path) -> Path:
    autograd = percent("#| default_exp core.autograd", """\
        #| export
        from tinytorch.core.activations import ReLU


        class Variable:
            pass
        """)
    activations = ACTIVATIONS.replace("    def forward(self, x):\n",
                                      "    def forward(self, x):\n"
                                      "        from tinytorch.core.autograd import Variable\n")
    return write_layout(tmp_path / "course", {
        ACT_PY: activations,
        "modules/04_autograd/autograd.py": autograd,
        "modules/04_autograd/module.yaml": module_yaml("autograd", ["activations"], ["Variable"]),
    })


def test_extract_imports_knows_where_each_import_runs():
    found = extract_imports(ast.parse(CODE))
    by_name = {(r.name, r.names): r for r in found}
    assert ("os", ()) in by_name and ("numpy", ()) in by_name
    relative = by_name[("tensor", ("Tensor",))]
    assert relative.level == 1 and not relative.in_function
    assert by_name[("", ("core",))].level == 2
    guarded = by_name[("tinytorch.core.autograd", ("Variable",))]
    assert guarded.guarded and not guarded.in_function
    fallback = by_name[("autograd_dev", ("Variable",))]
    assert not fallback.guarded  # the fallback itself runs when the guarded import fails
    assert by_name[("tinytorch.core.layers", ("Linear",))].guarded  # TYPE_CHECKING: never runs
    inner = by_name[("tinytorch.core.losses", ("mse",))]
    assert inner.in_function and inner.node.lineno == 14
    dynamic = by_name[("tinytorch.core.optim", ())]
    assert dynamic.dynamic and dynamic.in_function
    assert not by_name[("math", ())].in_function  # class bodies run at import time


def test_statement_walk_matches_full_walk_without_dynamic_imports():
    tree = ast.parse(CODE)
    full = [(r.name, r.names, r.level, r.in_function, r.guarded) for r in extract_imports(tree) if not r.dynamic]
    fast = [(r.name, r.names, r.level, r.in_function, r.guarded) for r in extract_imports(tree, dynamic=False)]
    assert sorted(full) == sorted(fast)


def test_bound_names():
    names, star = bound_names(ast.parse("import a.b as c\nfrom d import *\nx, y = 1, 2\nclass K: pass\n"
                                        "try:\n    import z\nexcept ImportError:\n    z = None\n"))
    assert names >= {"c", "x", "y", "K", "z"} and star
    names, _ = bound_names(ast.parse("import a\nb = 1\n"), imports=False)
    assert names == {"b"}


def test_declared_and_actual_graph_of_a_clean_course(tmp_path):
    root = write_layout(tmp_path / "course")
    graph = course_graph(load_course(root))
    assert graph.has_declared
    assert graph.declared["03_layers"] == ["01_tensor", "02_activations"]
    refs = graph.actual["03_layers"]["02_activations"]
    assert refs[0].line == line_of(root / LAYERS_PY, "from tinytorch.core.activations import ReLU")
    assert refs[0].statement == "from tinytorch.core.activations import ReLU"
    assert graph.undeclared() == [] and graph.unused() == [] and graph.cycles() == []
    assert graph.order() == ["01_tensor", "02_activations", "03_layers"]


def test_package_level_and_submodule_imports_resolve_to_modules(tmp_path):
    layers = LAYERS.replace("from tinytorch.core.tensor import Tensor\nfrom tinytorch.core.activations import ReLU\n",
                            "from tinytorch import Tensor\nfrom tinytorch.core import activations\n")
    root = write_layout(tmp_path / "course", {LAYERS_PY: layers})
    graph = course_graph(load_course(root))
    assert set(graph.actual["03_layers"]) == {"01_tensor", "02_activations"}


def test_hidden_cycle_is_reported_whole_with_import_lines(tmp_path):
    root = _cycle_course(tmp_path)
    graph = course_graph(load_course(root))
    assert graph.cycles() == [["02_activations", "04_autograd", "02_activations"]]
    evidence = graph.evidence("02_activations", "04_autograd")
    line = line_of(root / ACT_PY, "from tinytorch.core.autograd import Variable")
    assert evidence == [f"{ACT_PY}:{line} `from tinytorch.core.autograd import Variable` (inside a function)"]
    assert graph.order() is None
    assert ("02_activations", "04_autograd") in graph.backwards()
    assert [(a, b) for a, b, _ in graph.undeclared()] == [("02_activations", "04_autograd")]


def test_cycle_through_a_declared_edge_is_the_shortest_one(tmp_path):
    changes = {"modules/01_tensor/module.yaml": module_yaml("tensor", ["layers"], ["Tensor"])}
    root = write_layout(tmp_path / "course", changes)
    graph = course_graph(load_course(root))
    cycles = graph.cycles()
    assert len(cycles) == 1 and cycles[0][0] == cycles[0][-1] == "01_tensor"
    assert cycles[0] == ["01_tensor", "03_layers", "01_tensor"]
    assert "declares prerequisite `layers`" in graph.evidence("01_tensor", "03_layers")[0]


def test_layout_c_graph_is_inferred(tmp_path):
    root = write_layout(tmp_path / "course", base=LAYOUT_C)
    graph = course_graph(load_course(root))
    assert not graph.has_declared and graph.unused() == [] and graph.undeclared() == []
    text, code = run_deps(root, "text", True)
    assert code == 0 and "no declared graph" in text and "inferred" in text


def test_run_deps_text_and_check(tmp_path):
    root = write_layout(tmp_path / "clean")
    text, code = run_deps(root, "text", True)
    assert code == 0
    assert "Build order:\n  1. 01_tensor\n  2. 02_activations\n  3. 03_layers" in text
    assert "03_layers -> 01_tensor, 02_activations" in text
    mismatch = write_layout(tmp_path / "mismatch",
                            {"modules/03_layers/module.yaml": module_yaml("layers", ["tensor"], ["Linear"])})
    text, code = run_deps(mismatch, "text", False)
    assert code == 0 and "02_activations!" in text
    text, code = run_deps(mismatch, "text", True)
    assert code == 1 and "03_layers imports 02_activations but module.yaml does not declare it" in text
    cyclic = _cycle_course(tmp_path / "cyclic")
    text, code = run_deps(cyclic, "text", True)
    assert code == 1 and "02_activations -> 04_autograd -> 02_activations" in text
    assert "Build order: none" in text


def test_run_deps_usage_errors(tmp_path):
    root = write_layout(tmp_path / "course")
    assert run_deps(root, "svg", False)[1] == 2
    text, code = run_deps(tmp_path / "nowhere", "text", False)
    assert code == 2 and text.startswith("tinytorch-verifier: error:")


def test_mermaid_dot_and_json_renderings(tmp_path):
    root = _cycle_course(tmp_path)
    graph = course_graph(load_course(root))
    mermaid = render_mermaid(graph)
    assert mermaid.startswith("flowchart BT\n")
    assert 'm02_activations["02_activations"]' in mermaid
    assert "m02_activations -- undeclared --> m04_autograd" in mermaid
    assert "m03_layers --> m02_activations" in mermaid
    assert "class m02_activations,m04_autograd cycle" in mermaid
    dot = render_dot(graph)
    assert dot.startswith('digraph "tinytorch" {') and dot.rstrip().endswith("}")
    assert '"02_activations" -> "04_autograd" [color=red, label="undeclared"];' in dot
    data = json.loads(run_deps(root, "json", False)[0])
    assert data["order"] is None and data["declared_graph"] is True
    assert data["cycles"][0]["modules"] == ["02_activations", "04_autograd", "02_activations"]
    layers = next(m for m in data["modules"] if m["module"] == "03_layers")
    assert layers["declared"] == ["01_tensor", "02_activations"]
    assert layers["actual"]["01_tensor"][0]["statement"] == "from tinytorch.core.tensor import Tensor"


def test_declared_only_edge_in_renderings(tmp_path):
    root = write_layout(tmp_path / "course",
                        {"modules/02_activations/module.yaml": module_yaml("activations", ["tensor", "1"], ["ReLU"]),
                         "modules/03_layers/module.yaml": module_yaml("layers", ["tensor", "activations", "01_tensor"],
                                                                      ["Linear", "Sequential"])})
    graph = course_graph(load_course(root))
    assert graph.declared["02_activations"] == ["01_tensor"]  # name and number mean the same module
    assert graph.unused() == []
    unused = write_layout(tmp_path / "unused", {
        "modules/03_layers/layers.py": LAYERS.replace("from tinytorch.core.tensor import Tensor\n", "")})
    graph = course_graph(load_course(unused))
    assert graph.unused() == [("03_layers", "01_tensor")]
    assert "m03_layers -. declared only .-> m01_tensor" in render_mermaid(graph)
    assert '"03_layers" -> "01_tensor" [style=dashed, label="declared only"];' in render_dot(graph)


def test_yaml_item_lines(tmp_path):
    path = tmp_path / "module.yaml"
    path.write_text("# c\nname: x\ndependencies:\n  prerequisites:\n    - a\n    - b\ncomponents: [A, B]\n")
    lines = yaml_item_lines(path)
    assert lines["dependencies.prerequisites[1]"] == 6 and lines["components[0]"] == 7 and lines["name"] == 2
    path.write_text("name: [broken\n")
    assert yaml_item_lines(path) == {}


@pytest.mark.parametrize("fmt", ["text", "mermaid", "dot", "json"])
def test_embedded_course_graph_renders(fmt):
    text, code = run_deps(Path(__file__).resolve().parents[2] / "course", fmt, False)
    assert code == 0 and text
