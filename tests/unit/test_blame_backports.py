"""Blame without a traceback (suspects inferred from a failing integration test's imports), the API
stage's blame (the module defining a removed name), and version-guarded backports (TT220 with an
environment marker). Each must fire where it should, and stay quiet on real trees."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest
from helpers import without_eol_advisory
from validation_courses import ACTIVATIONS, PYPROJECT, line_of, write_layout

from verifier.checks.validate import validate
from verifier.course.discovery import load_course
from verifier.package.api import compare
from verifier.pipeline.gate import decide
from verifier.results import result_from_json
from verifier.runner.attribution import attribute_api
from verifier.runner.scenarios import blame_from_tests
from verifier.runner.suspects import infer_blame, suspects_of_test

REPO = Path(__file__).resolve().parents[2]
EMBEDDED = load_course(REPO / "course")
ACT_PY = "modules/02_activations/activations.py"
REGRESSION = "tests.integration.test_layers_losses::test_linear_regression_recovers_the_true_weights_with_mse"


# --------------------------------------------------------------------------- blame without a traceback

def test_suspects_are_what_the_failing_test_imports_and_uses():
    found = suspects_of_test(EMBEDDED, REGRESSION)
    assert found == {"04_layers": ["Linear"], "06_losses": ["MSELoss"], "01_tensor": ["Tensor"]}


def test_package_alias_attribute_chains_resolve():
    found = suspects_of_test(EMBEDDED, "tests.integration.test_cnn_training::test_cnn_learns_digits")
    assert "10_spatial" in found and "tt.Conv2d" in found["10_spatial"]


def test_inferred_blame_is_lowest_numbered_and_says_it_is_an_inference():
    blame = infer_blame(EMBEDDED, [REGRESSION])
    assert blame.how == "inferred" and blame.module == "01_tensor"
    assert blame.suspects == ["01_tensor", "04_layers", "06_losses"]
    assert blame.describe().startswith("suspected: 01_tensor (inferred from the test's imports: Tensor)")


def test_modules_whose_own_unit_tests_pass_go_last():
    blame = infer_blame(EMBEDDED, [REGRESSION], passing={"tensor", "layers"})
    assert blame.suspects == ["06_losses", "01_tensor", "04_layers"] and blame.module == "06_losses"
    assert "their own unit tests pass: 01_tensor, 04_layers" in blame.describe()


def test_assertion_only_integration_failure_blocks_with_a_suspect_to_fix(result):
    failures = [(REGRESSION, "AssertionError: assert False", None,
                 'tests/integration/test_layers_losses.py:170: in test_linear_regression\n    assert np.allclose(...)\n'
                 'E   AssertionError')]
    blame = blame_from_tests(EMBEDDED, failures, {"tensor", "layers"})
    assert blame.module == "06_losses" and blame.how == "inferred"
    r = result()
    tests = r.pythons[0].stage("course-tests")
    tests.status, tests.detail, tests.attribution = "failed", "1 failed", blame
    decision = decide(r)
    assert decision.modules_to_fix == ["06_losses"]
    assert "suspected: 06_losses (inferred from the test's imports: MSELoss)" in decision.blockers[0].describe()
    # the inferred blame survives the JSON report (status, report read it back)
    again = result_from_json(r.to_json()).pythons[0].stage("course-tests").attribution
    assert again.suspects == blame.suspects and again.describe() == blame.describe()


def test_a_traceback_or_failing_unit_tests_still_win_over_inference():
    failures = [(REGRESSION, "", None, ""), ("tests.unit.test_dense::test_mlp", "", "dense", "")]
    assert blame_from_tests(EMBEDDED, failures).how == "course tests"


def test_no_package_import_means_no_suspect(tmp_path):
    course = tmp_path / "c"
    (course / "tests").mkdir(parents=True)
    (course / "tests" / "test_x.py").write_text("def test_x():\n    assert 1 == 2\n")
    real = load_course(REPO / "course")
    real.root = course  # the module list of the embedded course, a test file that imports nothing of it
    assert infer_blame(real, ["tests.test_x::test_x"]) is None


# --------------------------------------------------------------------------- API stage blame

def test_api_blame_names_the_module_defining_the_name():
    old = {"tinytorch.core.dense": {"create_mlp": {"kind": "function", "params": []}},
           "tinytorch.core.tensor": {"Tensor": {"kind": "class", "methods": {}}}}
    new = {"tinytorch.core.dense": {}, "tinytorch.core.tensor": {"Tensor": {"kind": "class", "methods": {}}}}
    diff = compare(old, new)
    assert diff.origin == {"tinytorch.core.dense.create_mlp removed": ("tinytorch.core.dense", "create_mlp")}
    targets = {"tinytorch.core.dense": "05_dense", "tinytorch.core.tensor": "01_tensor"}
    blame = attribute_api(EMBEDDED, list(diff.origin.values()), targets)
    assert blame.module == "05_dense" and blame.path == "modules/05_dense/dense.py" and blame.how == "api"
    assert blame.line == line_of(REPO / "course" / blame.path, "def create_mlp(")  # still defined here


# --------------------------------------------------------------------------- guarded backports

BACKPORTS = {
    "version_guard": "import sys\nif sys.version_info < (3, 11):\n    import tomli as toml\nelse:\n"
                     "    import tomllib as toml\n",
    "version_guard_ge": "import sys\nif sys.version_info >= (3, 11):\n    import tomllib as toml\nelse:\n"
                        "    import tomli as toml\n",
    "import_error_fallback": "try:\n    import tomllib as toml\nexcept ImportError:\n    import tomli as toml\n",
    # the one handler test of deps/imports.py: a tuple, a dotted name and a broad except guard too
    "tuple_dotted_fallback": "import builtins\ntry:\n    import tomllib as toml\n"
                             "except (OSError, builtins.ModuleNotFoundError):\n    import tomli as toml\n",
    "exception_fallback": "try:\n    import tomllib as toml\nexcept Exception:\n    import tomli as toml\n",
}


def _course(tmp_path, code: str, dependencies: Optional[str] = None, requires: Optional[str] = None):
    act = ACTIVATIONS.replace("import numpy as np\n", "import numpy as np\n" + code, 1)
    pyproject = PYPROJECT
    if dependencies:
        pyproject = pyproject.replace('dependencies = ["numpy>=1.22"]', dependencies)
    if requires:
        pyproject = pyproject.replace('requires-python = ">=3.9"', f'requires-python = "{requires}"')
        pyproject = pyproject.replace('    "Programming Language :: Python :: 3.9",\n', "") \
            .replace('    "Programming Language :: Python :: 3.10",\n', "")
    root = write_layout(tmp_path / "course", {ACT_PY: act, "pyproject.toml": pyproject})
    return root, validate(load_course(root))


@pytest.mark.parametrize("shape", sorted(BACKPORTS))
def test_guarded_backport_gets_the_dependency_with_an_environment_marker(tmp_path, shape):
    root, report = _course(tmp_path, BACKPORTS[shape])
    (finding,) = [f for f in without_eol_advisory(report.findings) if f.code.startswith(("TT22", "TT23"))]
    assert finding.code == "TT220" and finding.line == line_of(root / ACT_PY, "import tomli")
    assert '`tomli; python_version < "3.11"`' in finding.fix
    assert "add \"tomli\"" not in finding.fix


@pytest.mark.parametrize("shape", sorted(BACKPORTS))
def test_dependency_declared_with_the_marker_satisfies_the_check(tmp_path, shape):
    _, report = _course(tmp_path, BACKPORTS[shape],
                        dependencies='dependencies = ["numpy>=1.22", "tomli>=1.1; python_version < \'3.11\'"]')
    assert without_eol_advisory(report.findings) == [], report.render_text()


def test_backport_below_the_oldest_supported_python_never_runs(tmp_path):
    _, report = _course(tmp_path, BACKPORTS["version_guard"], requires=">=3.11")
    assert without_eol_advisory(report.findings) == [], report.render_text()


def test_unguarded_import_keeps_the_plain_fix(tmp_path):
    root, report = _course(tmp_path, "import tomli as toml\n")
    (finding,) = [f for f in report.findings if f.code == "TT220"]
    assert 'add "tomli"' in finding.fix and "python_version" not in finding.fix


def _backport_fixes(tree: Path):
    """Every TT220 of the tree as (path, the undeclared import's name, whether its fix names a marker)."""
    report = validate(load_course(tree))
    return sorted((f.path, f.fix.split('"')[1], "python_version" in f.fix) for f in report.findings
                  if f.code == "TT220")


def test_embedded_course_has_no_undeclared_import():
    assert _backport_fixes(REPO / "course") == []


# the real trees' TT220s (each a plain undeclared import, none version-guarded), as measured
UPSTREAM_TT220 = {
    "ce776937": [("modules/source/01_setup/setup_dev.py", "psutil", False),
                 ("modules/source/03_activations/activations_dev.py", "matplotlib", False)],
    "4246c759": [("modules/source/01_tensor/tensor_dev.py", "numpy", False)],
    "52e1cf6f": [],
}


@pytest.mark.parametrize("commit", sorted(UPSTREAM_TT220))
def test_real_trees_have_no_backport_findings(corpus_trees, commit):
    """The upstream snapshots import no version-guarded backport: their TT220s keep the plain fix, no
    python_version marker (real-tree case where the new fix must not appear). A tree the loader cannot
    read fails the test."""
    assert _backport_fixes(corpus_trees[commit]) == UPSTREAM_TT220[commit]
