"""Static package validation (`tinytorch-verifier package validate`): one small fixture course per real fault
in the conventions page and per check, each asserting the code, module and line reported."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import pytest
from helpers import without_eol_advisory
from validation_courses import (
    ACTIVATIONS,
    LAYERS,
    LAYOUT_A,
    LAYOUT_B,
    LAYOUT_C,
    PYPROJECT,
    TENSOR,
    line_of,
    module_yaml,
    notebook,
    percent,
    write_layout,
)

from verifier.checks.findings import CATALOGUE, ERROR, WARNING, Finding, catalogue_table
from verifier.checks.validate import ValidationReport, run_validate, validate
from verifier.course.discovery import load_course
from verifier.course.pycalendar import newest_released

REPO = Path(__file__).resolve().parents[2]
EMBEDDED = REPO / "course"
TENSOR_PY = "modules/01_tensor/tensor.py"
ACT_PY = "modules/02_activations/activations.py"
LAYERS_PY = "modules/03_layers/layers.py"


def check(tmp_path: Path, changes: Optional[Dict[str, Optional[str]]] = None, base=None,
          module: Optional[str] = None):
    root = write_layout(tmp_path / "course", changes, base)
    return root, validate(load_course(root), module)


def found(report: ValidationReport, code: str, module: str, path: Optional[str], line: Optional[int]) -> Finding:
    """The one finding of `code` in the report, which must be at module/path:line: a second finding of
    the same code anywhere is a false positive and fails the test (found_all for several expected)."""
    (finding,) = found_all(report, code, {(module, path, line)})
    return finding


def found_all(report: ValidationReport, code: str, where: Set[Tuple[str, Optional[str], Optional[int]]]) \
        -> List[Finding]:
    """The findings of `code`, exactly one at each (module, path, line) of `where` and none elsewhere."""
    mine = [f for f in report.findings if f.code == code]
    at = sorted(((f.module, f.path, f.line) for f in mine), key=str)
    assert at == sorted(where, key=str), \
        f"{code} expected at {sorted(where, key=str)}, got at {at}:\n{report.render_text()}"
    return sorted(mine, key=lambda f: str((f.module, f.path, f.line)))


def codes(report: ValidationReport):
    return sorted({f.code for f in report.findings})


def replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


# --------------------------------------------------------------------------- clean courses

def test_clean_layout_a_has_no_findings(tmp_path):
    _, report = check(tmp_path)
    assert without_eol_advisory(report.findings) == [], report.render_text()
    assert report.ok and report.counts == {ERROR: 0, WARNING: 1}  # TT236: 3.9 and 3.10 are past end of life
    assert report.modules_checked == ["01_tensor", "02_activations", "03_layers"]


def test_clean_layout_b_with_paired_notebooks_and_settings_ini(tmp_path):
    root, report = check(tmp_path, base=LAYOUT_B)
    course = load_course(root)
    assert course.layout == "B" and course.modules[0].paired is not None
    assert without_eol_advisory(report.findings) == [], report.render_text()


def test_upstream_style_cell_with_default_exp_and_export_and_nbgrader_header(tmp_path):
    # as upstream tensor_dev.py: one nbgrader cell holds `#| default_exp`, a blank line, `#| export`, imports
    tensor = TENSOR.replace("# %%\n#| default_exp core.tensor\n\n# %%\n#| export\n",
                            '# %% nbgrader={"grade": false, "grade_id": "tensor-imports", "solution": false}\n'
                            "#| default_exp core.tensor\n\n#| export\n")
    assert tensor != TENSOR
    files = dict(LAYOUT_B)
    files["modules/source/01_tensor/tensor_dev.py"] = tensor
    files["modules/source/01_tensor/tensor_dev.ipynb"] = notebook(tensor)
    _, report = check(tmp_path, base=files)
    assert without_eol_advisory(report.findings) == [], report.render_text()


def test_layout_c_without_module_yaml_infers_the_graph_and_says_so(tmp_path):
    _, report = check(tmp_path, base=LAYOUT_C)
    assert report.ok, report.render_text()
    assert not any(f.code in ("TT201", "TT202", "TT006") for f in report.findings)
    assert any("inferred" in note for note in report.notes)
    assert "inferred" in report.render_text()
    assert report.graph is not None and report.graph.actual["03_layers"].keys() == {"01_tensor", "02_activations"}


def test_embedded_course_validates_clean():
    # (speed is measured by benchmarks/validate_timing.py, not asserted here)
    report = validate(load_course(EMBEDDED))
    assert without_eol_advisory(report.findings) == [], report.render_text()


# --------------------------------------------------------------------------- real faults (conventions page)

def test_fault_second_file_in_module_folder_with_same_default_exp(tmp_path):
    stray = "modules/01_tensor/tensor_dev_restructured.py"
    root, report = check(tmp_path, {stray: TENSOR})
    finding = found(report, "TT112", "01_tensor", stray, line_of(root / stray, "#| default_exp core.tensor"))
    assert "two sources export to tinytorch.core.tensor" in finding.issue
    assert TENSOR_PY in finding.issue
    assert not report.ok


def test_two_modules_exporting_to_one_target(tmp_path):
    layers = replace(LAYERS, "#| default_exp core.layers", "#| default_exp core.activations")
    root, report = check(tmp_path, {LAYERS_PY: layers})
    finding = found(report, "TT112", "03_layers", LAYERS_PY, line_of(root / LAYERS_PY, "#| default_exp"))
    assert finding.related == ("02_activations",) and ACT_PY in finding.issue


def test_notebook_dev_file_findings_carry_cell_and_line(tmp_path):
    changed = replace(TENSOR, "#| default_exp core.tensor", "#| default_exp core.tensr")
    files = dict(LAYOUT_A)
    files.update({TENSOR_PY: None, "modules/01_tensor/tensor.ipynb": notebook(changed),
                  "modules/01_tensor/module.yaml": module_yaml("tensor", [], ["Tensor"], dev_file="tensor.ipynb")})
    root = write_layout(tmp_path / "course", base=files)
    report = validate(load_course(root))
    finding = found(report, "TT101", "01_tensor", "modules/01_tensor/tensor.ipynb", 1)
    assert finding.cell == 2 and "line 1 of cell 2 of modules/01_tensor/tensor.ipynb" in finding.fix
    assert "(cell 2, line 1)" in report.render_text()


def test_fault_module_exporting_outside_core(tmp_path):
    changes = {"modules/03_layers/layers.py": replace(LAYERS, "#| default_exp core.layers", "#| default_exp tinygpt"),
               "modules/03_layers/module.yaml": module_yaml("layers", ["tensor", "activations"],
                                                            ["Linear", "Sequential"], exports_to="tinytorch.tinygpt")}
    root, report = check(tmp_path, changes)
    finding = found(report, "TT105", "03_layers", LAYERS_PY, line_of(root / LAYERS_PY, "#| default_exp tinygpt"))
    assert "outside tinytorch.core" in finding.issue
    assert "TT101" not in codes(report)  # the directive matches exports_to; the location is the fault


def _fallback_course(tmp_path, activations_code):
    path = "modules/03_activations/activations.py"
    base = {"pyproject.toml": PYPROJECT,
            "modules/01_setup/setup.py": percent("#| default_exp core.setup", "#| export\nVERSION = '0.1'"),
            "modules/01_setup/module.yaml": module_yaml("setup", [], ["VERSION"]),
            "modules/02_tensor/tensor_dev.py": TENSOR,
            "modules/02_tensor/module.yaml": module_yaml("tensor", [], ["Tensor"], dev_file="tensor_dev.py"),
            path: activations_code,
            "modules/03_activations/module.yaml": module_yaml("activations", ["tensor"], ["ReLU"])}
    root = write_layout(tmp_path / "course", base=base)
    return root, path, validate(load_course(root))


def test_fault_in_tree_sys_path_and_dev_file_import(tmp_path):
    # unconditional coupling; the path names 01_tensor, but the tensor module lives in 02_tensor
    coupled = replace(ACTIVATIONS, "from tinytorch.core.tensor import Tensor\n", (
        "import os\n"
        "import sys\n"
        "sys.path.append(os.path.join(os.path.dirname(__file__), '..', '01_tensor'))\n"
        "from tensor_dev import Tensor\n"))
    root, path, report = _fallback_course(tmp_path, coupled)
    sys_path = found(report, "TT210", "03_activations", path, line_of(root / path, "sys.path.append"))
    assert "the folder 01_tensor does not exist (tensor is in 02_tensor)" in sys_path.issue
    dev = found(report, "TT211", "03_activations", path, line_of(root / path, "from tensor_dev import Tensor"))
    assert "tinytorch.core.tensor" in dev.fix
    assert "TT212" not in codes(report)  # the same statement is reported once, as TT210


def test_dev_fallback_of_a_package_import_is_not_coupling(tmp_path):
    # upstream ce776937 modules/source/05_dense/dense_dev.py: try the package first, then local modules;
    # once the package is installed the try succeeds and the fallback never runs
    fallback = replace(ACTIVATIONS, "from tinytorch.core.tensor import Tensor\n", (
        "import os\n"
        "import sys\n"
        "try:\n"
        "    from tinytorch.core.tensor import Tensor\n"
        "except ImportError:\n"
        "    # For development, import from local modules\n"
        "    sys.path.append(os.path.join(os.path.dirname(__file__), '..', '01_tensor'))\n"
        "    from tensor_dev import Tensor\n"))
    root, path, report = _fallback_course(tmp_path, fallback)
    assert without_eol_advisory(report.findings) == [], report.render_text()


def test_fault_function_level_import_of_later_module_is_a_hidden_cycle(tmp_path):
    # activations (02) imports Variable from autograd (04) inside a function; autograd declares activations
    autograd = percent("#| default_exp core.autograd", """\
        #| export
        from tinytorch.core.tensor import Tensor
        from tinytorch.core.activations import ReLU


        class Variable(Tensor):
            pass
        """)
    activations = replace(ACTIVATIONS, "    def forward(self, x):\n", (
        "    def forward(self, x):\n"
        "        from tinytorch.core.autograd import Variable\n"))
    changes = {ACT_PY: activations,
               "modules/04_autograd/autograd.py": autograd,
               "modules/04_autograd/module.yaml": module_yaml("autograd", ["tensor", "activations"], ["Variable"])}
    root, report = check(tmp_path, changes)
    line = line_of(root / ACT_PY, "from tinytorch.core.autograd import Variable")
    cycle = found(report, "TT204", "02_activations", ACT_PY, line)
    # one statement, one finding: the cycle supersedes the progression (TT205) at the same import
    assert not [f for f in report.findings if f.code == "TT205" and f.line == line]
    assert cycle.issue == "dependency cycle: 02_activations -> 04_autograd -> 02_activations"
    assert any("activations.py:%d" % line in d and "inside a function" in d for d in cycle.details)
    assert any("autograd.py" in d and "from tinytorch.core.activations import ReLU" in d for d in cycle.details)
    # ... and the undeclared prerequisite: declaring a later module would contradict the fix
    assert [f.code for f in report.findings if f.line == line and f.path == ACT_PY] == ["TT204"]


def test_fault_declared_prerequisites_differ_from_imports(tmp_path):
    changes = {"modules/03_layers/module.yaml": module_yaml("layers", ["tensor"], ["Linear", "Sequential"]),
               "modules/02_activations/module.yaml": module_yaml("activations", ["tensor", "layers"], ["ReLU"])}
    root, report = check(tmp_path, changes)
    found(report, "TT201", "03_layers", LAYERS_PY,
          line_of(root / LAYERS_PY, "from tinytorch.core.activations import ReLU"))
    unused = found(report, "TT202", "02_activations", "modules/02_activations/module.yaml",
                   line_of(root / "modules/02_activations/module.yaml", "- layers"))
    assert unused.severity == WARNING


def test_fault_committed_init_imports_a_module_that_was_not_committed(tmp_path):
    init = ('"""tinytorch."""\nfrom .core.tensor import Tensor\nfrom .core.activations import ReLU\n'
            'from tinytorch.core import layers\n')
    changes = {"tinytorch/__init__.py": init, "tinytorch/core/__init__.py": "",
               "tinytorch/core/tensor.py": "class Tensor:\n    pass\n"}
    root, report = check(tmp_path, changes)
    # line 2 (tensor, committed) stays quiet; 3 (activations) and 4 (layers) are missing
    missing, _ = found_all(report, "TT240", {("course", "tinytorch/__init__.py", 3),
                                             ("course", "tinytorch/__init__.py", 4)})
    assert "tinytorch.core.activations" in missing.issue


def test_fault_generated_header_names_a_source_that_does_not_exist(tmp_path):
    changes = {"tinytorch/__init__.py": "",
               "tinytorch/core/tensor.py": ("# AUTOGENERATED! DO NOT EDIT! File to edit: src/[unknown]/[unknown].py."
                                            "\n\nclass Tensor:\n    pass\n"),
               "tinytorch/core/layers.py": ("# AUTOGENERATED! DO NOT EDIT! File to edit: "
                                            "../../modules/03_layers/layers.py.\n")}
    root, report = check(tmp_path, changes)
    finding = found(report, "TT241", "01_tensor", "tinytorch/core/tensor.py", 1)
    assert "[unknown]" in finding.issue
    assert not any(f.code == "TT241" and f.path == "tinytorch/core/layers.py" for f in report.findings)


def test_generated_header_naming_the_notebook_jupytext_makes_from_the_py_source_is_fine(tmp_path):
    # upstream ce776937: the package names `..._dev.ipynb`, git holds only `..._dev.py` (jupytext makes
    # the notebook at export time) — a notebook that is nowhere else still fires
    changes = {"tinytorch/__init__.py": "",
               "tinytorch/core/layers.py": ("# AUTOGENERATED! DO NOT EDIT! File to edit: "
                                            "../../modules/03_layers/layers.ipynb.\n"),
               "tinytorch/core/tensor.py": ("# AUTOGENERATED! DO NOT EDIT! File to edit: "
                                            "../../modules/01_tensor/other.ipynb.\n")}
    root, report = check(tmp_path, changes)
    assert not any(f.code == "TT241" and f.path == "tinytorch/core/layers.py" for f in report.findings)
    found(report, "TT241", "01_tensor", "tinytorch/core/tensor.py", 1)


# --------------------------------------------------------------------------- exports

def test_default_exp_mismatch_is_reported_in_the_form_students_know(tmp_path):
    spatial = percent("[markdown]\n# Spatial", "#| default_exp core.spatal", "#| export\nclass Conv2d:\n    pass")
    changes = {"modules/04_spatial/spatial.py": spatial,
               "modules/04_spatial/module.yaml": module_yaml("spatial", [], ["Conv2d"])}
    root, report = check(tmp_path, changes)
    line = line_of(root / "modules/04_spatial/spatial.py", "#| default_exp core.spatal")
    finding = found(report, "TT101", "04_spatial", "modules/04_spatial/spatial.py", line)
    text = report.render_text()
    assert ("Export validation failed for 04_spatial:\n"
            "- Issue: #| default_exp core.spatal does not match exports_to tinytorch.core.spatial in module.yaml\n"
            ) in text
    assert (f"- Fix: change the directive on line {line} of modules/04_spatial/spatial.py to "
            f"`#| default_exp core.spatial`\n- Resubmit after fixing") in text
    assert f"(TT101 error at modules/04_spatial/spatial.py:{line})" in text
    assert finding.severity == ERROR


def test_import_of_a_target_misnamed_by_its_module_blames_the_directive(tmp_path):
    tensor = replace(TENSOR, "#| default_exp core.tensor", "#| default_exp core.tensr")
    root, report = check(tmp_path, {TENSOR_PY: tensor})
    found(report, "TT101", "01_tensor", TENSOR_PY, line_of(root / TENSOR_PY, "#| default_exp core.tensr"))
    # both dependents import the misnamed target
    follow, _ = found_all(report, "TT206", {
        ("02_activations", ACT_PY, line_of(root / ACT_PY, "core.tensor import Tensor")),
        ("03_layers", LAYERS_PY, line_of(root / LAYERS_PY, "core.tensor import Tensor"))})
    assert "01_tensor declares it as exports_to" in follow.issue and "`#| default_exp` of 01_tensor" in follow.fix
    assert "TT201" not in codes(report) and "TT202" not in codes(report)  # the edge is still known


def test_exports_to_with_or_without_package_prefix(tmp_path):
    yaml_text = module_yaml("tensor", [], ["Tensor"], exports_to="core.tensor")
    _, report = check(tmp_path, {"modules/01_tensor/module.yaml": yaml_text})
    assert without_eol_advisory(report.findings) == [], report.render_text()


def test_missing_and_duplicate_default_exp(tmp_path):
    no_target = replace(TENSOR, "#| default_exp core.tensor\n", "import math\n")
    twice = replace(ACTIVATIONS, "#| default_exp core.activations\n",
                    "#| default_exp core.activations\n\n# %%\n#| default_exp core.activation\n")
    root, report = check(tmp_path, {TENSOR_PY: no_target, ACT_PY: twice})
    found(report, "TT102", "01_tensor", TENSOR_PY, 1)
    found(report, "TT115", "01_tensor", TENSOR_PY, line_of(root / TENSOR_PY, "#| export"))
    found(report, "TT103", "02_activations", ACT_PY, line_of(root / ACT_PY, "#| default_exp core.activation", 2))


@pytest.mark.parametrize("target, fragment", [
    ("/home/student/tinytorch/core/tensor", "absolute path"),
    ("core/tensor", "path separator"),
    ("core..tensor", "relative (..)"),
    ("..core.tensor", "relative (..)"),
    ("core.tensor.py", "drop the extension"),
    ("core.class", "not a Python identifier"),
])
def test_invalid_targets(tmp_path, target, fragment):
    changes = {TENSOR_PY: replace(TENSOR, "#| default_exp core.tensor", f"#| default_exp {target}")}
    root, report = check(tmp_path, changes)
    finding = found(report, "TT104", "01_tensor", TENSOR_PY, line_of(root / TENSOR_PY, "#| default_exp"))
    assert fragment in finding.issue


@pytest.mark.parametrize("target, shadowed", [("core.random", "standard-library module random"),
                                              ("core.numpy", "installed package numpy")])
def test_targets_shadowing_stdlib_or_installed_packages(tmp_path, target, shadowed):
    changes = {TENSOR_PY: replace(TENSOR, "#| default_exp core.tensor", f"#| default_exp {target}"),
               "modules/01_tensor/module.yaml": module_yaml("tensor", [], ["Tensor"], exports_to=target)}
    root, report = check(tmp_path, changes)
    finding = found(report, "TT106", "01_tensor", TENSOR_PY, line_of(root / TENSOR_PY, "#| default_exp"))
    assert shadowed in finding.issue


def test_configurable_location(tmp_path):
    pyproject = replace(PYPROJECT, 'location = "core"', 'location = "nn"')
    root, report = check(tmp_path, {"pyproject.toml": pyproject})
    # every module exports into core, now outside the configured location
    outside = found_all(report, "TT105", {(f"0{n}_{name}", path, line_of(root / path, "#| default_exp"))
                                          for n, name, path in ((1, "tensor", TENSOR_PY),
                                                                (2, "activations", ACT_PY),
                                                                (3, "layers", LAYERS_PY))})
    assert all("outside tinytorch.nn" in f.issue for f in outside)


def test_folder_naming_duplicates_and_gaps(tmp_path):
    changes = {"modules/05_dense/dense.py": percent("#| default_exp core.dense", "#| export\nclass Dense:\n    pass"),
               "modules/05_dense/module.yaml": module_yaml("dense", [], ["Dense"]),
               "modules/03_optim/optim.py": percent("#| default_exp core.optim", "#| export\nclass SGD:\n    pass"),
               "modules/03_optim/module.yaml": module_yaml("optim", [], ["SGD"]),
               "modules/extras/module.yaml": module_yaml("extras", [], [])}
    _, report = check(tmp_path, changes)
    found(report, "TT108", "03_optim", "modules/03_optim", None)
    gap = found(report, "TT109", "05_dense", "modules/05_dense", None)
    assert "no 04 between 03_optim and 05_dense" in gap.issue or "no 04 between 03_layers and 05_dense" in gap.issue
    found(report, "TT107", "extras", "modules/extras", None)


def test_folder_number_must_have_two_digits(tmp_path):
    changes = {k.replace("03_layers", "3_layers"): v for k, v in LAYOUT_A.items()}
    root = write_layout(tmp_path / "course", base=changes)
    report = validate(load_course(root))
    found(report, "TT107", "3_layers", "modules/3_layers", None)


def test_dev_file_and_module_yaml_name_must_match_folder(tmp_path):
    changes = {"modules/02_activations/module.yaml": module_yaml("activation", ["tensor"], ["ReLU"],
                                                                 dev_file="relu.py"),
               ACT_PY: None, "modules/02_activations/relu.py": ACTIVATIONS}
    root = tmp_path / "course"
    files = dict(LAYOUT_A)
    files.update(changes)
    write_layout(root, base=files)
    report = validate(load_course(root))
    meta = "modules/02_activations/module.yaml"
    found(report, "TT111", "02_activations", meta, line_of(root / meta, "name: activation"))
    found(report, "TT110", "02_activations", "modules/02_activations/relu.py", None)


def test_module_folder_without_dev_file(tmp_path):
    root = tmp_path / "course"
    files = dict(LAYOUT_A)
    files[LAYERS_PY] = None
    files["modules/03_layers/module.yaml"] = module_yaml("layers", ["tensor", "activations"], [], dev_file="nn.py")
    files["modules/03_layers/notes.py"] = "print('hi')\n"
    write_layout(root, base=files)
    report = validate(load_course(root))
    finding = found(report, "TT004", "03_layers", "modules/03_layers", None)
    assert "notes.py" in finding.issue


def test_extra_source_exporting_elsewhere_is_a_warning(tmp_path):
    extra = "modules/01_tensor/scratch.py"
    root, report = check(tmp_path, {extra: percent("#| default_exp core.scratch", "#| export\nX = 1")})
    finding = found(report, "TT113", "01_tensor", extra, line_of(root / extra, "#| default_exp"))
    assert finding.severity == WARNING and report.ok


def test_test_file_with_directive_text_in_strings_is_not_a_source(tmp_path):
    test_file = "modules/01_tensor/test_tensor.py"
    text = ('SOURCE = """\n#| default_exp core.tensor\n"""\n\ndef test_x():\n'
            '    assert "#| default_exp core.tensor" in SOURCE\n')
    _, report = check(tmp_path, {test_file: text})
    assert without_eol_advisory(report.findings) == [], report.render_text()


def test_directives_only_count_at_the_top_of_a_code_cell(tmp_path):
    # a string and a code line containing `#| default_exp` are not directives
    tensor = replace(TENSOR, "class Tensor:\n", (
        'EXAMPLE = "#| default_exp core.other"\n'
        "\n\n"
        "class Tensor:\n"))
    tensor = replace(tensor, "def test_unit_tensor():\n", (
        "x = 1\n"
        "#| export\n"
        "def test_unit_tensor():\n"))
    root, report = check(tmp_path, {TENSOR_PY: tensor})
    assert "TT103" not in codes(report) and "TT101" not in codes(report)
    misplaced = found(report, "TT116", "01_tensor", TENSOR_PY, line_of(root / TENSOR_PY, "#| export", 2))
    assert misplaced.severity == WARNING
    assert report.ok


def _twice(tmp_path, init):
    layers = replace(LAYERS, "class Sequential:", "class ReLU:\n    pass\n\n\nclass Sequential:")
    layers = replace(layers, "from tinytorch.core.activations import ReLU\n", "from tinytorch.core.activations "
                                                                              "import ReLU as _ReLU\n")
    pyproject = PYPROJECT + (f'init = "{init}"\n' if init else "")
    return check(tmp_path, {LAYERS_PY: layers, "pyproject.toml": pyproject})


def test_one_public_name_exported_by_two_modules(tmp_path):
    root, report = _twice(tmp_path, "star-imports")
    finding = found(report, "TT114", "03_layers", LAYERS_PY, line_of(root / LAYERS_PY, "class ReLU:"))
    assert "02_activations" in finding.issue and finding.related == ("02_activations",)


@pytest.mark.parametrize("init", [None, "nbdev", "course"])
def test_one_name_in_two_modules_is_fine_without_a_star_import_init(tmp_path, init):
    # nbdev's __init__ (`__version__` only) and a course's own __init__ (upstream's) import nothing by star
    root, report = _twice(tmp_path, init)
    assert "TT114" not in codes(report), report.render_text()


def test_paired_notebook_that_differs_is_reported_as_a_pair(tmp_path):
    changed = replace(TENSOR, "self.data + other.data", "self.data - other.data")
    files = dict(LAYOUT_B)
    files["modules/source/01_tensor/tensor_dev.ipynb"] = notebook(changed)
    root = write_layout(tmp_path / "course", base=files)
    report = validate(load_course(root))
    py = "modules/source/01_tensor/tensor_dev.py"
    finding = found(report, "TT117", "01_tensor", py, line_of(root / py, "import numpy as np"))
    assert "tensor_dev.py and tensor_dev.ipynb" in finding.issue and "cell" in finding.issue
    assert any("self.data - other.data" in d for d in finding.details)


def test_component_not_defined_by_exported_cells(tmp_path):
    yaml_text = module_yaml("layers", ["tensor", "activations"], ["Linear", "Sequential", "MLP"])
    root, report = check(tmp_path, {"modules/03_layers/module.yaml": yaml_text})
    meta = "modules/03_layers/module.yaml"
    finding = found(report, "TT118", "03_layers", meta, line_of(root / meta, "- MLP"))
    assert "`MLP`" in finding.issue


def test_component_defined_only_in_a_test_cell_is_missing(tmp_path):
    yaml_text = module_yaml("tensor", [], ["Tensor", "test_unit_tensor"])
    root, report = check(tmp_path, {"modules/01_tensor/module.yaml": yaml_text})
    found(report, "TT118", "01_tensor", "modules/01_tensor/module.yaml",
          line_of(root / "modules/01_tensor/module.yaml", "- test_unit_tensor"))


# --------------------------------------------------------------------------- reading problems: findings, never crashes

def test_malformed_module_yaml_is_a_finding_with_line(tmp_path):
    meta = "modules/02_activations/module.yaml"
    _, report = check(tmp_path, {meta: "name: activations\ndependencies: [tensor\ncomponents: [ReLU]\n"})
    finding = next(f for f in report.findings if f.code == "TT001")
    assert finding.module == "02_activations" and finding.path == meta and finding.line is not None


def test_module_yaml_with_wrong_types(tmp_path):
    meta = "modules/01_tensor/module.yaml"
    root, report = check(tmp_path, {meta: "name: tensor\nexports_to: tinytorch.core.tensor\ncomponents: Tensor\n"})
    found(report, "TT001", "01_tensor", meta, 3)


def test_unreadable_sources_are_findings(tmp_path):
    bad_utf8 = TENSOR.encode("utf-8").replace(b"An n-dimensional", b"An \xff-dimensional")
    _, report = check(tmp_path, {TENSOR_PY: bad_utf8,  # type: ignore[dict-item]
                                 ACT_PY: "print('no cell markers')\n"})
    root = tmp_path / "course"
    found_all(report, "TT002", {("01_tensor", TENSOR_PY, line_of(root / TENSOR_PY, "class Tensor:") + 1),
                                ("02_activations", ACT_PY, 1)})


def test_broken_notebook_json_is_a_finding(tmp_path):
    files = dict(LAYOUT_B)
    files["modules/source/01_tensor/tensor_dev.ipynb"] = '{"cells": [\n  {"cell_type": "code",,}\n'
    root = write_layout(tmp_path / "course", base=files)
    report = validate(load_course(root))
    found(report, "TT002", "01_tensor", "modules/source/01_tensor/tensor_dev.ipynb", 2)


def test_syntax_errors_in_exported_and_test_cells(tmp_path):
    tensor = replace(TENSOR, "        return Tensor(self.data + other.data)",
                     "        return Tensor(self.data + other.data))")
    tensor = replace(tensor, "    assert (Tensor([1.0])", "    assert (Tensor([1.0]]")
    root, report = check(tmp_path, {TENSOR_PY: tensor})
    found(report, "TT003", "01_tensor", TENSOR_PY, line_of(root / TENSOR_PY, "other.data))"))
    warn = found(report, "TT008", "01_tensor", TENSOR_PY, line_of(root / TENSOR_PY, "Tensor([1.0]]"))
    assert warn.severity == WARNING


def test_missing_module_yaml_in_a_course_that_uses_them(tmp_path):
    _, report = check(tmp_path, {"modules/03_layers/module.yaml": None})
    found(report, "TT006", "03_layers", "modules/03_layers", None)


def test_missing_requires_python_is_a_warning(tmp_path):
    pyproject = replace(PYPROJECT, 'requires-python = ">=3.9"\n', "")
    _, report = check(tmp_path, {"pyproject.toml": pyproject})
    finding = found(report, "TT005", "course", "pyproject.toml", None)
    assert finding.severity == WARNING and report.ok


# --------------------------------------------------------------------------- dependencies and coupling

def test_unknown_prerequisite(tmp_path):
    meta = "modules/02_activations/module.yaml"
    root, report = check(tmp_path, {meta: module_yaml("activations", ["tensr"], ["ReLU"])})
    finding = found(report, "TT203", "02_activations", meta, line_of(root / meta, "- tensr"))
    assert "`tensor`" in finding.fix


def test_imports_of_missing_package_modules_and_names(tmp_path):
    layers = replace(LAYERS, "from tinytorch.core.activations import ReLU\n",
                     "from tinytorch.core.activation import ReLU\nfrom tinytorch.core.tensor import Tensr\n")
    root, report = check(tmp_path, {LAYERS_PY: layers})
    missing = found(report, "TT206", "03_layers", LAYERS_PY, line_of(root / LAYERS_PY, "core.activation import"))
    assert "tinytorch.core.activations" in missing.fix
    name = found(report, "TT207", "03_layers", LAYERS_PY, line_of(root / LAYERS_PY, "import Tensr"))
    assert "`Tensor`" in name.fix


def test_relative_and_guarded_imports_count_as_dependencies(tmp_path):
    layers = replace(LAYERS, "from tinytorch.core.tensor import Tensor\nfrom tinytorch.core.activations import ReLU\n",
                     "from .tensor import Tensor\ntry:\n    from .activations import ReLU\nexcept ImportError:\n"
                     "    ReLU = None\n")
    _, report = check(tmp_path, {LAYERS_PY: layers})
    assert without_eol_advisory(report.findings) == [], report.render_text()
    assert set(report.graph.actual["03_layers"]) == {"01_tensor", "02_activations"}


def test_sys_path_and_modules_folder_imports(tmp_path):
    tensor = replace(TENSOR, "import numpy as np\n", "import sys\nimport numpy as np\n"
                     "sys.path.insert(0, 'modules')\nfrom modules import helpers\n")
    root, report = check(tmp_path, {TENSOR_PY: tensor})
    found(report, "TT210", "01_tensor", TENSOR_PY, line_of(root / TENSOR_PY, "sys.path.insert"))
    found(report, "TT211", "01_tensor", TENSOR_PY, line_of(root / TENSOR_PY, "from modules import helpers"))


def test_reads_relative_to_working_directory_or_source_tree(tmp_path):
    tensor = replace(TENSOR, "        self.data = np.asarray(data, dtype=float)\n", (
        "        self.data = np.asarray(data, dtype=float)\n"
        "        self.names = open('data/names.txt').read()\n"
        "        self.table = np.loadtxt('weights.csv')\n"
        "        self.extra = Path('data/extra.json').read_text()\n"
        "        self.src = '../modules/01_tensor/fixtures/x.npy'\n"
        "        with open('out.txt', 'w') as handle:\n"
        "            handle.write('fine: writing is not reading')\n"))
    tensor = replace(tensor, "import numpy as np\n", "from pathlib import Path\n\nimport numpy as np\n")
    root, report = check(tmp_path, {TENSOR_PY: tensor})
    # open('out.txt', 'w') writes, it does not read: no finding there
    found_all(report, "TT212", {("01_tensor", TENSOR_PY, line_of(root / TENSOR_PY, text))
                                for text in ("open('data/names.txt')", "np.loadtxt", "Path('data/extra.json')",
                                             "self.src =")})


def test_undeclared_and_unused_third_party_dependencies(tmp_path):
    act = replace(ACTIVATIONS, "import numpy as np\n", "import numpy as np\nimport matplotlib.pyplot as plt\n"
                  "try:\n    import scipy\nexcept ImportError:\n    scipy = None\n")
    pyproject = replace(PYPROJECT, 'dependencies = ["numpy>=1.22"]', 'dependencies = ["numpy>=1.22", "pandas>=2"]')
    root, report = check(tmp_path, {ACT_PY: act, "pyproject.toml": pyproject})
    undeclared = found(report, "TT220", "02_activations", ACT_PY, line_of(root / ACT_PY, "import matplotlib"))
    assert '"matplotlib"' in undeclared.fix and "fresh venv" in undeclared.issue
    optional = found(report, "TT222", "02_activations", ACT_PY, line_of(root / ACT_PY, "import scipy"))
    assert optional.severity == WARNING
    unused = found(report, "TT221", "course", "pyproject.toml", line_of(root / "pyproject.toml", "dependencies ="))
    assert "pandas" in unused.issue and unused.severity == WARNING


def test_import_names_that_differ_from_distribution_names(tmp_path):
    act = replace(ACTIVATIONS, "import numpy as np\n", "import numpy as np\nimport yaml\n")
    pyproject = replace(PYPROJECT, 'dependencies = ["numpy>=1.22"]', 'dependencies = ["numpy>=1.22", "PyYAML>=6"]')
    _, report = check(tmp_path, {ACT_PY: act, "pyproject.toml": pyproject})
    assert without_eol_advisory(report.findings) == [], report.render_text()


# --------------------------------------------------------------------------- the oldest supported Python

@pytest.mark.parametrize("code, marker", [
    ("def kind(x):\n    match x:\n        case 1:\n            return 'one'\n    return 'many'\n", "match x:"),
    ("def run(f):\n    try:\n        f()\n    except* ValueError:\n        pass\n", "except* ValueError"),
    ("def first[T](items: list[T]) -> T:\n    return items[0]\n", "def first[T]"),
    ("def both(a, b):\n    with (open(a) as fa, open(b) as fb):\n        return fa.read() + fb.read()\n",
     "with (open(a) as fa"),
])
def test_syntax_newer_than_requires_python(tmp_path, code, marker):
    act = replace(ACTIVATIONS, "class ReLU:", code + "\n\nclass ReLU:")
    root, report = check(tmp_path, {ACT_PY: act})
    finding = found(report, "TT230", "02_activations", ACT_PY, line_of(root / ACT_PY, marker))
    assert "3.9" in finding.issue


def test_old_style_context_managers_are_fine(tmp_path):
    act = replace(ACTIVATIONS, "class ReLU:", "def both(a, b):\n    with (open(a)) as fa, open(b) as fb:\n"
                  "        return fa, fb\n\n\nclass ReLU:")
    _, report = check(tmp_path, {ACT_PY: act})
    assert "TT230" not in codes(report), report.render_text()


def test_newer_syntax_is_fine_when_requires_python_allows_it(tmp_path):
    act = replace(ACTIVATIONS, "class ReLU:", "def kind(x):\n    match x:\n        case 1:\n            return 1\n"
                  "    return 2\n\n\nclass ReLU:")
    pyproject = replace(PYPROJECT, ">=3.9", ">=3.10").replace("3.9\"", "3.10\"")
    _, report = check(tmp_path, {ACT_PY: act, "pyproject.toml": pyproject})
    assert "TT230" not in codes(report), report.render_text()


def test_stdlib_modules_names_and_keywords_newer_than_requires_python(tmp_path):
    act = replace(ACTIVATIONS, "import numpy as np\n", (
        "import itertools\n"
        "import tomllib\n"
        "from typing import Self\n"
        "import numpy as np\n"
        "try:\n"
        "    from typing import TypeAlias\n"
        "except ImportError:\n"
        "    TypeAlias = None\n"))
    act = replace(act, "        return Tensor(np.maximum(x.data, 0))\n", (
        "        pairs = list(itertools.pairwise([1, 2, 3]))\n"
        "        both = list(zip(pairs, pairs, strict=True))\n"
        "        return Tensor(np.maximum(x.data, 0))\n"))
    root, report = check(tmp_path, {ACT_PY: act})
    # TypeAlias sits in try/except ImportError: no finding there
    found_all(report, "TT231", {("02_activations", ACT_PY, line_of(root / ACT_PY, text))
                                for text in ("import tomllib", "from typing import Self", "itertools.pairwise",
                                             "strict=True")})


def test_runtime_type_unions_on_python_39(tmp_path):
    act = replace(ACTIVATIONS, "    def forward(self, x):\n", "    def forward(self, x: Tensor | None):\n")
    root, report = check(tmp_path, {ACT_PY: act})
    found(report, "TT232", "02_activations", ACT_PY, line_of(root / ACT_PY, "Tensor | None"))
    future = replace(act, "import numpy as np\n", "from __future__ import annotations\n\nimport numpy as np\n")
    _, report = check(tmp_path / "again", {ACT_PY: future})
    assert "TT232" not in codes(report)


def test_name_defined_only_in_a_non_exported_cell(tmp_path):
    # nbdev classic: `import numpy as np` sits in a non-exported cell, exported code uses np
    act = replace(ACTIVATIONS, "#| export\nimport numpy as np\n", "import numpy as np\n\n# %%\n#| export\n")
    root, report = check(tmp_path, {ACT_PY: act})
    # one finding at the defining (non-exported) cell, the uses in its locations
    (finding,) = [f for f in report.findings if f.code == "TT233"]
    assert (finding.module, finding.path, finding.line) == ("02_activations", ACT_PY,
                                                            line_of(root / ACT_PY, "import numpy as np"))
    assert "`np`" in finding.issue and "#| export" in finding.fix
    assert line_of(root / ACT_PY, "np.maximum") in {loc.line for loc in finding.locations}


def test_stdlib_module_removed_in_a_supported_python(tmp_path):
    act = replace(ACTIVATIONS, "import numpy as np\n", "import imp\nimport numpy as np\n")
    root, report = check(tmp_path, {ACT_PY: act})
    finding = found(report, "TT234", "02_activations", ACT_PY, line_of(root / ACT_PY, "import imp"))
    newest = "%d.%d" % newest_released()   # the fixture's newest classifier: the newest released Python
    assert "removed from the standard library in Python 3.12" in finding.issue
    assert f"the course supports Python {newest}" in finding.issue


# --------------------------------------------------------------------------- API, formats, exit codes

def test_single_module_validation_reports_only_that_module(tmp_path):
    changes = {TENSOR_PY: replace(TENSOR, "#| default_exp core.tensor", "#| default_exp core.tensr"),
               LAYERS_PY: replace(LAYERS, "import Tensor\n", "import Tensor\nimport matplotlib\n")}
    root, report = check(tmp_path, changes, module="layers")
    assert report.modules_checked == ["03_layers"]
    assert {f.module for f in report.findings} == {"03_layers"}
    assert "TT220" in codes(report)


def test_run_validate_exit_codes_and_formats(tmp_path):
    root = write_layout(tmp_path / "clean")
    out, code = run_validate(root, None, "text")
    assert code == 0 and "Package validation passed: 3 modules checked" in out
    broken = write_layout(tmp_path / "broken", {ACT_PY: replace(ACTIVATIONS, "core.activations", "core.activ")})
    out, code = run_validate(broken, None, "json")
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False and data["counts"]["error"] >= 1
    first = data["findings"][0]
    assert set(first) >= {"code", "severity", "module", "path", "line", "issue", "fix"}
    assert first["code"] == "TT101" and first["module"] == "02_activations"
    assert run_validate(root, "nope", "text")[1] == 2
    assert run_validate(root, None, "xml")[1] == 2
    out, code = run_validate(tmp_path / "missing", None, "json")
    assert code == 2 and "error" in json.loads(out)


def test_validation_never_executes_student_code(tmp_path):
    marker = tmp_path / "executed"
    tensor = replace(TENSOR, "import numpy as np\n", f"import numpy as np\nopen({str(marker)!r}, 'w').write('x')\n")
    check(tmp_path, {TENSOR_PY: tensor})
    assert not marker.exists()


def test_catalogue_is_documented():
    doc = (REPO / "docs" / "validation.md").read_text(encoding="utf-8")
    for code in CATALOGUE.values():
        assert f"| {code.code} | {code.severity} |" in doc, code.code
    assert catalogue_table() in doc


# --------------------------------------------------------------------------- false classes (real-tree patterns)

def test_default_location_is_not_enforced_on_a_course_that_chose_other_subpackages(tmp_path):
    # upstream 4246c759: no [tool.tinytorch] location; modules export to text., models., profiling. on purpose
    pyproject = replace(PYPROJECT, 'location = "core"\n', "")
    changes = {"pyproject.toml": pyproject,
               "modules/03_layers/layers.py": replace(LAYERS, "#| default_exp core.layers",
                                                      "#| default_exp text.layers"),
               "modules/03_layers/module.yaml": module_yaml("layers", ["tensor", "activations"],
                                                            ["Linear", "Sequential"],
                                                            exports_to="tinytorch.text.layers")}
    root, report = check(tmp_path, changes)
    assert without_eol_advisory(report.findings) == [], report.render_text()


def test_module_yaml_exports_to_still_binds_without_a_configured_location(tmp_path):
    pyproject = replace(PYPROJECT, 'location = "core"\n', "")
    changes = {"pyproject.toml": pyproject,
               "modules/03_layers/layers.py": replace(LAYERS, "#| default_exp core.layers",
                                                      "#| default_exp text.layers")}
    root, report = check(tmp_path, changes)
    finding = found(report, "TT101", "03_layers", LAYERS_PY, line_of(root / LAYERS_PY, "#| default_exp"))
    assert "core.layers" in finding.fix and "TT105" not in codes(report)


def test_components_written_as_mappings(tmp_path):
    # upstream ce776937 modules/source/12_compression/module.yaml: `- name: X` with more keys
    meta = "modules/03_layers/module.yaml"
    text = module_yaml("layers", ["tensor", "activations"], [])
    text = text.replace("components:\n", "components:\n  - name: Linear\n    description: a dense layer\n"
                                         "  - name: Sequential\n    type: class\n")
    root, report = check(tmp_path, {meta: text})
    assert without_eol_advisory(report.findings) == [], report.render_text()
    text = text.replace("  - name: Sequential\n", "  - name: MLP\n")
    root, report = check(tmp_path / "again", {meta: text})
    finding = found(report, "TT118", "03_layers", meta, line_of(root / meta, "- name: MLP"))
    assert "`MLP`" in finding.issue


def test_import_of_another_top_level_package_of_the_same_distribution(tmp_path):
    # upstream 52e1cf6f: [tool.setuptools.packages.find] include = ["tinytorch*", "tito*"]
    act = replace(ACTIVATIONS, "import numpy as np\n", "import numpy as np\nfrom tito.core import console\n")
    pyproject = PYPROJECT + '\n[tool.setuptools.packages.find]\ninclude = ["tinytorch*", "tito*"]\n'
    root, report = check(tmp_path, {ACT_PY: act, "pyproject.toml": pyproject})
    assert "TT220" not in codes(report), report.render_text()
    root, report = check(tmp_path / "again", {ACT_PY: act})
    found(report, "TT220", "02_activations", ACT_PY, line_of(root / ACT_PY, "from tito.core import console"))


def test_one_statement_gives_one_finding(tmp_path):
    # a backwards import at module level: progression (TT205) supersedes "undeclared" (TT201) on that line
    layers_import = "from tinytorch.core.layers import Linear\n"
    act = replace(ACTIVATIONS, "import numpy as np\n", "import numpy as np\n" + layers_import)
    root, report = check(tmp_path, {ACT_PY: act})
    line = line_of(root / ACT_PY, layers_import.strip())
    at_line = [f.code for f in report.findings if f.path == ACT_PY and f.line == line]
    assert len(at_line) == 1, report.render_text()


# --------------------------------------------------------------------------- impact, summary, waivers, registry

def test_every_code_has_an_impact_and_install_breaking_findings_come_first(tmp_path):
    from verifier.checks.findings import Impact
    assert all(isinstance(c.impact, Impact) for c in CATALOGUE.values())
    act = replace(ACTIVATIONS, "import numpy as np\n", "import numpy as np\nimport matplotlib.pyplot as plt\n")
    yaml_text = module_yaml("layers", ["tensor", "activations"], ["Linear", "Sequential", "MLP"])
    root, report = check(tmp_path, {ACT_PY: act, "modules/03_layers/module.yaml": yaml_text})
    text = report.render_text()
    assert text.index("Findings per code:") < text.index("Fix these first") < text.index("validation failed for")
    head = text[text.index("Fix these first"):text.index("validation failed for")]
    assert "TT220" in head and "TT118" not in head
    data = json.loads(report.render_json())
    impacts = {f["code"]: f["impact"] for f in data["findings"]}
    assert impacts == {"TT220": "install-breaking", "TT118": "metadata/policy", "TT236": "metadata/policy"}
    assert data["counts_by_impact"]["install-breaking"] == 1
    assert data["counts_by_code"] == {"TT118": 1, "TT220": 1, "TT236": 1}


def test_waivers(tmp_path):
    yaml_text = module_yaml("layers", ["tensor", "activations"], ["Linear", "Sequential", "MLP"])
    meta = "modules/03_layers/module.yaml"
    pyproject = PYPROJECT + ('waive = [{code = "TT118", path = "modules/03_layers/module.yaml", line = 16, '
                             'reason = "MLP lands in the next release"},\n'
                             '         {code = "TT210", reason = "nothing to waive"},\n'
                             '         {code = "TT220"}]\n')
    root, report = check(tmp_path, {meta: yaml_text, "pyproject.toml": pyproject})
    assert line_of(root / meta, "- MLP") == 16
    waived = found(report, "TT118", "03_layers", meta, 16)
    assert waived.waived == "MLP lands in the next release" and not waived.is_error
    assert report.ok and report.counts[ERROR] == 0
    problems = [f for f in report.findings if f.code == "TT007"]
    assert len(problems) == 2 and all(f.severity == WARNING for f in problems)
    assert any("without a reason" in f.issue for f in problems) and any("matches no finding" in f.issue
                                                                       for f in problems)
    text = report.render_text()
    assert "Waived by the course (1, not blocking):" in text and "MLP lands in the next release" in text
    data = json.loads(report.render_json())
    assert [f["waiver_reason"] for f in data["findings"] if f["waived"]] == ["MLP lands in the next release"]


def test_every_catalogue_code_belongs_to_exactly_one_check():
    from verifier.checks.registry import CHECKS
    owners = {}
    for check_ in CHECKS:
        for code in check_.codes:
            owners.setdefault(code, []).append(check_.name)
    assert set(owners) == set(CATALOGUE)
    assert {code: names for code, names in owners.items() if len(names) != 1} == {}


def test_checks_and_deps_modules_stay_small():
    import ast as ast_
    for folder in ("checks", "deps"):
        for path in (REPO / "verifier" / folder).glob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert len(text.splitlines()) <= 520, path
            for node in ast_.walk(ast_.parse(text)):
                if isinstance(node, ast_.ClassDef):
                    assert node.end_lineno - node.lineno <= 250, (path, node.name)


def test_missing_module_yaml_only_where_the_course_uses_them(tmp_path):
    # upstream 4246c759: one module of twenty has a module.yaml; the course does not use them
    files = dict(LAYOUT_A)
    files["modules/02_activations/module.yaml"] = None
    files["modules/03_layers/module.yaml"] = None
    root = write_layout(tmp_path / "course", base=files)
    assert "TT006" not in codes(validate(load_course(root)))
    files = dict(LAYOUT_A)
    files["modules/03_layers/module.yaml"] = None
    root = write_layout(tmp_path / "again", base=files)
    found(validate(load_course(root)), "TT006", "03_layers", "modules/03_layers", None)


def test_exports_to_written_as_the_file_path_names_the_same_module(tmp_path):
    # upstream 4246c759: `exports_to: tinytorch/competition/submit.py` beside `#| default_exp competition.submit`
    yaml = module_yaml("tensor", [], ["Tensor"], exports_to="tinytorch/core/tensor.py")
    root, report = check(tmp_path, {"modules/01_tensor/module.yaml": yaml})
    assert "TT101" not in codes(report), report.render_text()
    wrong = module_yaml("tensor", [], ["Tensor"], exports_to="tinytorch/core/tensr.py")
    root, report = check(tmp_path / "wrong", {"modules/01_tensor/module.yaml": wrong})
    assert "TT101" in codes(report)
