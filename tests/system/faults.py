"""The fault corpus: seeded mutations of a temporary copy of the embedded course, each with the
stage that must block it and the module (and Pythons) it must be attributed to.

A verifier is only as good as the faults it catches and the false alarms it avoids: every
fault here is a real failure mode of TinyTorch trees (see the conventions page), applied to a
copy so the course itself is never touched.
"""
from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, FrozenSet, List, Optional, Tuple

COURSE = Path(__file__).resolve().parents[2] / "course"
HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"
OLDEST, NEWEST = "3.9", "3.13"


def copy_course(target: Path) -> Path:
    shutil.copytree(COURSE, target, ignore=shutil.ignore_patterns("tinytorch", "__pycache__", "*.pyc", "dist",
                                                                  "build", "*.egg-info"))
    return target


def source(root: Path, key: str) -> Path:
    folder = root / "modules" / key
    return folder / f"{key.split('_', 1)[1]}.py"


def replace(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fault no longer applies: {old!r} not in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def replace_re(path: Path, pattern: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    changed, n = re.subn(pattern, new, text, count=1, flags=re.MULTILINE)
    assert n == 1, f"fault no longer applies: /{pattern}/ not in {path}"
    path.write_text(changed, encoding="utf-8")


def add_cell(root: Path, key: str, code: str, directive: str = "#| export") -> None:
    path = source(root, key)
    text = path.read_text(encoding="utf-8").rstrip("\n")
    path.write_text(text + f"\n\n# %%\n{directive}\n{code.strip()}\n", encoding="utf-8")


def set_yaml(root: Path, key: str, pattern: str, new: str) -> None:
    replace_re(root / "modules" / key / "module.yaml", pattern, new)


@dataclass(frozen=True)
class Fault:
    id: str
    mutate: Callable[[Path], None]
    stage: str                          # the stage that must block it
    module: Optional[str]               # the module it must be attributed to (None: course-level)
    pythons: Tuple[str, ...] = ()       # Pythons to run (empty: static faults need none)
    failing: Optional[FrozenSet[str]] = None  # Pythons that must fail (default: all that run)
    scenarios: Tuple[str, ...] = ("imports",)
    tests: Optional[Tuple[str, ...]] = None   # course tests to run (None: none)
    timeout: float = 60.0               # cap on each scenario's timeout
    # an extra check of the result (the blocker's typed data): returns what is wrong, or None
    expect: Optional[Callable[[object], Optional[str]]] = None
    detail: str = ""                    # text the blocking stage's one-line detail must contain
    also: Tuple[Tuple[str, Optional[str]], ...] = ()   # (stage, module) that must fail too in the same run
    failed_modules: Tuple[Tuple[str, str], ...] = ()  # (dotted module, course module its error names)


def _conflict(root: Path) -> None:
    replace(source(root, "05_dense"), "#| default_exp core.dense", "#| default_exp core.layers")


def _stray(root: Path) -> None:
    shutil.copy2(source(root, "01_tensor"), root / "modules/01_tensor/tensor_dev_restructured.py")


def _no_default_exp(root: Path) -> None:
    replace(source(root, "06_losses"), "#| default_exp core.losses", "# (target removed)")


def _outside(root: Path) -> None:
    replace(source(root, "12_transformer"), "#| default_exp core.transformer", "#| default_exp ..tinygpt")
    set_yaml(root, "12_transformer", r"^exports_to:.*$", "exports_to: ..tinygpt")


def _disagrees(root: Path) -> None:
    replace(source(root, "10_spatial"), "#| default_exp core.spatial", "#| default_exp core.spatal")


def _cycle(root: Path) -> None:
    add_cell(root, "03_activations", "from tinytorch.core.dense import Sequential as _Seq")
    set_yaml(root, "03_activations", r"prerequisites: \[", "prerequisites: [dense, ")


def _undeclared(root: Path) -> None:
    add_cell(root, "09_training", "from tinytorch.core.losses import MSELoss as _DefaultLoss")


def _progression(root: Path) -> None:
    add_cell(root, "04_layers", "from tinytorch.core.optimizers import SGD as _SGD")
    set_yaml(root, "04_layers", r"prerequisites: \[", "prerequisites: [optimizers, ")


def _function_level(root: Path) -> None:
    add_cell(root, "03_activations", "def _as_variable(x):\n    from tinytorch.core.training import Trainer\n"
                                     "    return Trainer")


def _syspath(root: Path) -> None:
    # unconditional in-tree coupling (a fallback in the `except ImportError` of a package import never
    # runs once the package is installed, so it is not a fault)
    add_cell(root, "05_dense", "import os, sys\nsys.path.append(os.path.join(os.path.dirname(__file__), "
                               "'..', '01_tensor'))\nfrom tensor_dev import Tensor as _T")


def _third_party(root: Path) -> None:
    add_cell(root, "15_benchmarking", "import psutil as _psutil")


def _data_file(root: Path) -> None:
    add_cell(root, "08_dataloader", "import os as _os\n_GLYPHS = open(_os.path.join(_os.path.dirname(__file__), "
                                    "'glyphs.txt')).read()")
    (root / "modules/08_dataloader/glyphs.txt").write_text("glyphs\n")


def _subpackage(root: Path) -> None:
    replace(root / "pyproject.toml", 'include = ["tinytorch*"]', 'include = ["tinytorch"]')


def _init_gone(root: Path) -> None:
    add_cell(root, "07_optimizers", '_all_ = ["RMSprop"]')


def _version_mismatch(root: Path) -> None:
    # an nbdev trap: a module's own __version__ made public with _all_ overrides the package's
    add_cell(root, "01_tensor", '__version__ = "0.0.9"\n_all_ = ["__version__"]')


def _unsatisfiable_pin(root: Path) -> None:
    replace(root / "pyproject.toml", 'dependencies = ["numpy>=1.22"]', 'dependencies = ["numpy>=2.3"]')
    shutil.rmtree(root / "locks")


def _new_syntax(root: Path) -> None:
    add_cell(root, "13_kernels", "def _kind(x):\n    match x:\n        case 0:\n            return 'zero'\n"
                                 "        case _:\n            return 'other'")


def _new_stdlib(root: Path) -> None:
    add_cell(root, "16_mlops", "import tomllib as _tomllib")


def _newer_numpy(root: Path) -> None:
    add_cell(root, "01_tensor", "_UNSTACK = np.unstack  # NumPy >= 2.1 only")


def _removed_numpy(root: Path) -> None:
    add_cell(root, "01_tensor", "_IN1D = np.in1d  # removed from NumPy 2.4")


def _non_exported_name(root: Path) -> None:
    add_cell(root, "11_attention", "_HELPER_SCALE = 2.0", directive="# (not exported)")
    add_cell(root, "11_attention", "def attention_scale():\n    return _HELPER_SCALE")


def _twice(root: Path) -> None:
    add_cell(root, "06_losses", "def relu(x):\n    return x")


def _wrong_conv_grad(root: Path) -> None:
    path = source(root, "10_spatial")
    # the weight gradient is filled one kernel offset at a time: each slice gets the wrong sign
    replace_re(path, r"^(\s+)(grad_w\[:, :, i, j\]\s*=\s*)(.+)$", r"\1\2-(\3)")


def _loader_loop(root: Path) -> None:
    # a "retry until the shuffle is good" loop whose condition can never become false
    replace(source(root, "08_dataloader"), "        order = self._order()\n",
            "        order = self._order()\n        while len(order) >= len(self.dataset):\n"
            "            order = self._order()\n")


def _removed_name(root: Path) -> None:
    replace(source(root, "05_dense"), "def create_mlp(", "def _create_mlp(")
    set_yaml(root, "05_dense", r"^components:.*$", "components: [Sequential, MLP]")


def _causal_mask_off(root: Path) -> None:
    # the mask is built but never applied: training still converges (future tokens leak the answers)
    replace(source(root, "11_attention"), "        if causal:\n", "        if False and causal:\n")


def _adam_bias_off_by_one(root: Path) -> None:
    # bias correction one step ahead: Adam still minimises, with steps about half as large at first
    replace(source(root, "07_optimizers"), "        bias1 = 1.0 - b1 ** t\n", "        bias1 = 1.0 - b1 ** (t + 1)\n")


def _dropout_in_eval(root: Path) -> None:
    # dropout ignores eval(): predictions become random, yet accuracy stays high
    replace(source(root, "04_layers"), "        if not self.training or self.p == 0.0:\n",
            "        if self.p == 0.0:\n")


def _state_dict_drops_buffers(root: Path) -> None:
    # only parameters are saved: running statistics silently reset when a model is reloaded
    replace(source(root, "04_layers"), '            for name in module.__dict__.get("_buffer_names", ()):\n',
            "            for name in ():\n")


def _matrix_drops_newest(root: Path) -> None:
    # the classifiers promise 3.15, requires-python excludes it: verify would silently run 3.9-3.14 only
    replace(root / "pyproject.toml", 'requires-python = ">=3.9"', 'requires-python = ">=3.9,<3.15"')


def _expect_dropped_315(result) -> Optional[str]:
    from verifier.pipeline.gate import decide
    dropped = [b for b in decide(result).blockers if b.category == "Python dropped from the matrix"]
    if [b.python for b in dropped] != ["3.15"]:
        return f"expected one 'Python dropped from the matrix' blocker for 3.15, got {dropped}"
    if "pyproject.toml:" not in dropped[0].message or "requires-python" not in dropped[0].message:
        return f"the blocker does not name both pyproject lines: {dropped[0].message}"
    return None


def _mse_target_offset(root: Path) -> None:
    # a wrong value, no exception: regression fits a target 0.01 off; only an integration test's assert sees it
    replace(source(root, "06_losses"), '    diff = pred - _matching_target(target, pred, "mse_loss")\n',
            '    diff = pred - (_matching_target(target, pred, "mse_loss") + 0.01)\n')


def _line_of(path: Path, text: str) -> int:
    """The line of `path` holding `text`: expectations follow the file instead of a fixed number."""
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


# the entry point _entry_point_missing writes, just above the course's [tool.setuptools.packages.find]
ENTRY_POINT_LINE = _line_of(COURSE / "pyproject.toml", "[tool.setuptools.packages.find]") + 1


def _expect_inferred(result) -> Optional[str]:
    """06_losses first, said as a suspicion: inferred from the test's imports, or — where enough passing
    tests ran — ranked by coverage of failing vs passing tests (runner/spectrum.py), which replaces it."""
    for python in result.pythons:
        stage = python.stage("course-tests")
        if stage is not None and stage.attribution is not None:
            blame = stage.attribution
            said = {"inferred": "suspected: 06_losses (inferred",
                    "spectrum": "suspected (coverage of failing vs passing tests): 06_losses ("}.get(blame.how)
            if said is None or blame.module != "06_losses" or not blame.describe().startswith(said):
                return f"expected 06_losses as the first suspect, got {blame.describe()}"
            return None
    return "course-tests carries no attribution"


def _no_grad_not_restored_on_exception(root: Path) -> None:
    # grad mode restored only on a normal exit: after one exception inside `with no_grad():` every later test
    # runs without a graph; the first failure is an assert in the autograd tests, the rest fail in other modules
    replace(source(root, "02_autograd"), "        _GradMode.enabled = False\n        return self\n\n"
            "    def __exit__(self, *exc):\n        _GradMode.enabled = self.prev\n",
            "        _GradMode.enabled = False\n        return self\n\n"
            "    def __exit__(self, *exc):\n        if exc[0] is None:\n            _GradMode.enabled = self.prev\n")


def _expect_spectrum(stage_name: str, module: str) -> Callable[[object], Optional[str]]:
    def check(result) -> Optional[str]:
        for python in result.pythons:
            stage = python.stage(stage_name)
            if stage is not None and stage.attribution is not None:
                blame = stage.attribution
                if blame.how != "spectrum" or blame.module != module or "spectrum" not in stage.figures:
                    return f"expected a spectrum blame on {module}, got {blame.describe()}"
                if not blame.describe().startswith(f"suspected (coverage of failing vs passing tests): {module} ("):
                    return f"the blame does not say how it was found: {blame.describe()}"
                return None
        return f"{stage_name} carries no attribution"
    return check


def _xavier_bound_grows_with_fan(root: Path) -> None:
    # the Glorot bound multiplied by the fan instead of divided: every xavier layer (attention projections,
    # the transformer's feed-forward and head) starts with huge weights; no traceback, the transformer
    # scenario's loss barely falls and the message names the attention module
    replace(source(root, "04_layers"), "bound = math.sqrt(6.0 / (self.in_features + self.out_features))",
            "bound = math.sqrt(6.0 * (self.in_features + self.out_features))")


def _expect_layers_for_scenario_and_tests(result) -> Optional[str]:
    """The scenario (blamed by its message on 11_attention before) is blamed on 04_layers by the spectrum,
    inside the module whose own unit tests fail; the course-tests blame on 04_layers is not replaced."""
    problem = _expect_spectrum("transformer", "04_layers")(result)
    if problem:
        return problem
    for python in result.pythons:
        tests = python.stage("course-tests")
        if tests is None or tests.attribution is None or tests.attribution.module != "04_layers":
            return f"course-tests must stay on 04_layers, got {tests.attribution if tests else None}"
    return None


def _generate_context_halved(root: Path) -> None:
    # generation feeds the model only the last half of its context window: the reversal test's prompt
    # falls out of view; no traceback, one integration test fails on its accuracy
    replace(source(root, "12_transformer"), "self.forward(seq[:, -self.max_len:])",
            "self.forward(seq[:, -(self.max_len // 2):])")


def _expect_generate(result) -> Optional[str]:
    problem = _expect_spectrum("course-tests", "12_transformer")(result)
    if problem:
        return problem
    blame = next(p.stage("course-tests").attribution for p in result.pythons if p.stage("course-tests"))
    return None if blame.function == "GPT.generate" else f"expected GPT.generate, got {blame.describe()}"


def _renamed_public_function(root: Path) -> None:
    path = source(root, "13_kernels")
    path.write_text(path.read_text(encoding="utf-8").replace("format_comparisons", "render_comparisons"),
                    encoding="utf-8")
    set_yaml(root, "13_kernels", r"format_comparisons\]", "render_comparisons]")


def _expect_api_blame(result) -> Optional[str]:
    api = next((s for s in result.stages if s.name == "api"), None)
    if api is None or api.attribution is None or api.attribution.how != "api":
        return f"the api stage carries no API attribution: {api}"
    if api.attribution.function != "format_comparisons":
        return f"blamed {api.attribution.function!r}, expected the removed name format_comparisons"
    return None


def _guarded_backport(root: Path) -> None:
    add_cell(root, "16_mlops", "import sys as _sys\nif _sys.version_info < (3, 11):\n    import tomli as _toml\n"
                               "else:\n    import tomllib as _toml")


def _expect_marker_fix(result) -> Optional[str]:
    fixes = [f.fix for f in result.findings if f.code == "TT220" and f.module == "16_mlops"]
    if not fixes or 'tomli; python_version < "3.11"' not in fixes[0]:
        return f"expected the fix to add `tomli; python_version < \"3.11\"`, got {fixes}"
    return None


def _static_and_import_error(root: Path) -> None:
    _undeclared(root)  # a validation error (09_training) ...
    add_cell(root, "11_attention", "_SCALE_TABLE = np.no_such_table  # ... and a module broken at import")


def _two_broken_modules(root: Path) -> None:
    add_cell(root, "08_dataloader", "_DEFAULT_ORDER = np.no_such_order")
    add_cell(root, "13_kernels", "_BLOCK = np.no_such_block")


def _writes_at_import(root: Path) -> None:
    add_cell(root, "06_losses", "with open('losses_registry.txt', 'w') as _log:\n    _log.write('losses loaded')")


def _prints_at_import(root: Path) -> None:
    add_cell(root, "03_activations", "print('activations module loaded')")


def _entry_point_missing(root: Path) -> None:
    replace(root / "pyproject.toml", "[tool.setuptools.packages.find]",
            '[project.scripts]\ntinytorch-train = "tinytorch.core.training:main"\n\n[tool.setuptools.packages.find]')


def _tests_shadow_package(root: Path) -> None:
    # a test helper that puts a stale copy of the package first on sys.path; the folder is found at run
    # time (a glob), so only the run-time test-origin check can see it (tests-conftest-shadows-package-statically
    # is the form the static TT260 sees)
    (root / "tests/conftest.py").write_text(
        "import sys\nfrom pathlib import Path\n"
        "sys.path.insert(0, str(sorted(Path(__file__).parent.glob('help*'))[0]))\n")
    (root / "tests/helpers/tinytorch").mkdir(parents=True)
    (root / "tests/helpers/tinytorch/__init__.py").write_text("from numpy import ndarray as Tensor\n")


def _marker_drops_310(root: Path) -> None:
    # numpy is not installed on 3.10: every module fails to import there, but the cause is one pyproject line
    replace(root / "pyproject.toml", 'dependencies = ["numpy>=1.22"]',
            'dependencies = ["numpy>=1.22; python_version != \'3.10\'"]')


def _expect_marker_blocker(result) -> Optional[str]:
    from verifier.pipeline.gate import decide
    found = [b for b in decide(result).blockers if b.category == "dependency not installed on a Python of the matrix"]
    if [(b.module, b.python) for b in found] != [("course", "3.10")]:
        return f"expected one course blocker for 3.10, got {[b.describe() for b in found]}"
    message = found[0].message
    if "pyproject.toml:14" not in message or "tinytorch.core.tensor imports it at load" not in message:
        return f"the blocker does not name the requirement's line and an importing module: {message}"
    return None


ROW_STACK = "def stack_drift_reports(reports):\n    return np.row_stack(reports)  # removed in NumPy 2.5"


def _row_stack_on_unrun_path(root: Path) -> None:
    # a call of a NumPy function removed in 2.5 in a function no scenario calls: imports pass, scenarios pass
    add_cell(root, "16_mlops", ROW_STACK)


def _expect_row_stack_line(result) -> Optional[str]:
    source = Path(result.course) / "modules/16_mlops/mlops.py"
    line = next(n for n, row in enumerate(source.read_text(encoding="utf-8").splitlines(), 1) if "np.row_stack" in row)
    for python in result.pythons:
        stage = python.stage("dependency-api")
        if python.version == NEWEST:
            blame = stage.attribution if stage is not None else None
            where = (blame.module, blame.path, blame.line) if blame is not None else None
            if where != ("16_mlops", "modules/16_mlops/mlops.py", line):
                return f"expected 16_mlops at modules/16_mlops/mlops.py:{line}, got {blame}"
        elif stage is None or not stage.ok:
            return f"Python {python.version} (NumPy 2.0 has row_stack) must pass: {stage}"
    return None


def _conftest_patches_numpy(root: Path) -> None:
    # the tests make a removed NumPy name reappear: they pass against a NumPy no student has
    (root / "tests/conftest.py").write_text("import numpy as np\n\nnp.row_stack = np.vstack\n")


def _autouse_fixture_patches_numpy(root: Path) -> None:
    # the same hole through pytest's own tool: an autouse fixture re-applies the patch before every test
    (root / "tests/conftest.py").write_text(
        "import numpy as np\nimport pytest\n\n\n@pytest.fixture(autouse=True)\ndef _numpy_compat(monkeypatch):\n"
        "    monkeypatch.setattr(np, 'product', np.prod, raising=False)\n")


def _conftest_shadows_statically(root: Path) -> None:
    _tests_shadow_package(root)
    (root / "tests/conftest.py").write_text(
        "import os, sys\nsys.path.insert(0, os.path.join(os.path.dirname(__file__), 'helpers'))\n")


def _expect_test_patch(line: int):
    def check(result) -> Optional[str]:
        found = [(f.path, f.line) for f in result.findings if f.code == "TT260"]
        if found != [("tests/conftest.py", line)]:
            return f"expected TT260 at tests/conftest.py:{line}, got {found}"
        return None
    return check


def _numpy_below_2(root: Path) -> None:
    replace(root / "pyproject.toml", 'dependencies = ["numpy>=1.22"]', 'dependencies = ["numpy>=1.22,<2"]')


def _no_wheel_for_newest(root: Path) -> None:
    _numpy_below_2(root)  # NumPy 1.x has no wheel for 3.13: pip must not try to compile it
    shutil.rmtree(root / "locks")


FAULTS: List[Fault] = [
    # export
    Fault("export-conflicting-targets", _conflict, "validate", "05_dense"),
    Fault("export-stray-second-source", _stray, "validate", "01_tensor"),
    Fault("export-missing-default-exp", _no_default_exp, "validate", "06_losses"),
    Fault("export-target-outside-package", _outside, "validate", "12_transformer"),
    Fault("export-directive-disagrees-with-yaml", _disagrees, "validate", "10_spatial"),
    # dependencies
    Fault("deps-cycle", _cycle, "validate", "03_activations"),
    Fault("deps-undeclared-import", _undeclared, "validate", "09_training"),
    Fault("deps-progression-violation", _progression, "validate", "04_layers"),
    Fault("deps-function-level-later-import", _function_level, "validate", "03_activations"),
    Fault("deps-syspath-fallback", _syspath, "validate", "05_dense"),
    # packaging
    Fault("pkg-undeclared-third-party", _third_party, "validate", "15_benchmarking"),
    Fault("pkg-data-file-not-in-wheel", _data_file, "module-imports", "08_dataloader", pythons=(HERE,)),
    Fault("pkg-subpackage-left-out", _subpackage, "build", None),
    Fault("pkg-init-imports-missing-name", _init_gone, "module-imports", "07_optimizers", pythons=(HERE,)),
    Fault("pkg-version-mismatch", _version_mismatch, "installation", "01_tensor", pythons=(HERE,),
          scenarios=("installation",)),
    Fault("pkg-pin-unsatisfiable-on-oldest", _unsatisfiable_pin, "install", None, pythons=(OLDEST, NEWEST),
          failing=frozenset({OLDEST})),
    # Python and NumPy versions
    Fault("py-syntax-newer-than-oldest", _new_syntax, "validate", "13_kernels"),
    Fault("py-stdlib-only-in-newer", _new_stdlib, "validate", "16_mlops"),
    Fault("np-function-only-in-newer-numpy", _newer_numpy, "module-imports", "01_tensor", pythons=(OLDEST, NEWEST),
          failing=frozenset({OLDEST})),
    Fault("np-function-removed-in-newer-numpy", _removed_numpy, "module-imports", "01_tensor", pythons=(OLDEST, NEWEST),
          failing=frozenset({NEWEST})),
    # nbdev classics
    Fault("nbdev-name-from-non-exported-cell", _non_exported_name, "validate", "11_attention"),
    Fault("nbdev-name-exported-twice", _twice, "validate", "06_losses"),
    # behaviour
    Fault("behaviour-wrong-conv2d-gradient", _wrong_conv_grad, "cnn", "10_spatial", pythons=(HERE,),
          scenarios=("cnn",), tests=("unit/test_spatial.py",)),
    Fault("behaviour-dataloader-infinite-loop", _loader_loop, "data_flow", "08_dataloader", pythons=(HERE,),
          scenarios=("data_flow",), timeout=15.0),
    Fault("behaviour-removed-public-name", _removed_name, "api", "05_dense"),
    # behaviour a learning curve hides (scenario checks beyond accuracy)
    Fault("behaviour-causal-mask-off", _causal_mask_off, "transformer", "11_attention", pythons=(HERE,),
          scenarios=("transformer",)),
    Fault("behaviour-adam-bias-correction-wrong", _adam_bias_off_by_one, "cnn", "07_optimizers", pythons=(HERE,),
          scenarios=("cnn",)),
    Fault("behaviour-dropout-active-in-eval", _dropout_in_eval, "complete_pipeline", "04_layers", pythons=(HERE,),
          scenarios=("complete_pipeline",)),
    Fault("behaviour-state-dict-drops-buffers", _state_dict_drops_buffers, "persistence", "04_layers",
          pythons=(HERE,), scenarios=("persistence",)),
    # issue 12: the Python matrix, blame without a traceback, the api stage's module, guarded backports
    Fault("matrix-classifier-excluded-by-requires-python", _matrix_drops_newest, "validate", "course",
          expect=_expect_dropped_315),
    Fault("blame-integration-assert-without-traceback", _mse_target_offset, "course-tests", "06_losses",
          pythons=(HERE,), tests=("integration/test_layers_losses.py::"
                                  "test_linear_regression_recovers_the_true_weights_with_mse",
                                  "unit/test_tensor.py", "unit/test_layers.py"), expect=_expect_inferred),
    # issue: blame the right module without a traceback (coverage of failing vs passing tests)
    Fault("spectrum-no-grad-not-restored-on-exception", _no_grad_not_restored_on_exception, "course-tests",
          "02_autograd", pythons=(HERE,), scenarios=(),
          tests=("unit/test_autograd.py", "unit/test_layers.py", "unit/test_tensor.py"),
          expect=_expect_spectrum("course-tests", "02_autograd")),
    Fault("spectrum-xavier-bound-grows-with-fan", _xavier_bound_grows_with_fan, "transformer", "04_layers",
          pythons=(HERE,), scenarios=("transformer",),
          tests=("unit/test_layers.py", "unit/test_attention.py", "unit/test_transformer.py",
                 "integration/test_transformer_training.py"), expect=_expect_layers_for_scenario_and_tests),
    Fault("spectrum-generate-context-halved", _generate_context_halved, "course-tests", "12_transformer",
          pythons=(HERE,), scenarios=(),
          tests=("integration/test_transformer_training.py", "unit/test_transformer.py", "unit/test_attention.py"),
          expect=_expect_generate),
    Fault("api-renamed-public-function-names-its-module", _renamed_public_function, "api", "13_kernels",
          expect=_expect_api_blame),
    Fault("py-guarded-backport-needs-marker", _guarded_backport, "validate", "16_mlops", expect=_expect_marker_fix),
    # keep going, import each module alone, side effects, entry points, test origin, install hygiene
    Fault("keepgoing-validation-error-then-import-error", _static_and_import_error, "validate", "09_training",
          pythons=(HERE,), also=(("module-imports", "11_attention"),),
          failed_modules=(("tinytorch.core.attention", "11_attention"),)),
    Fault("imports-two-broken-modules-both-reported", _two_broken_modules, "module-imports", "08_dataloader",
          pythons=(HERE,), scenarios=(), failed_modules=(("tinytorch.core.dataloader", "08_dataloader"),
                                                         ("tinytorch.core.kernels", "13_kernels"))),
    Fault("imports-side-effect-file-written", _writes_at_import, "module-imports", "06_losses", pythons=(HERE,),
          scenarios=(), detail="losses_registry.txt",
          failed_modules=(("tinytorch.core.losses", "06_losses"),)),
    Fault("imports-side-effect-print", _prints_at_import, "module-imports", "03_activations", pythons=(HERE,),
          scenarios=(), detail="activations module loaded",
          failed_modules=(("tinytorch.core.activations", "03_activations"),)),
    Fault("entry-point-target-missing", _entry_point_missing, "entry-points", "09_training", pythons=(HERE,),
          scenarios=(), detail=f"pyproject.toml:{ENTRY_POINT_LINE}"),
    Fault("tests-import-shadowed-package", _tests_shadow_package, "course-tests", None, pythons=(HERE,),
          scenarios=(), tests=("unit/test_tensor.py",), detail="helpers/tinytorch"),
    Fault("install-no-wheel-for-python", _no_wheel_for_newest, "install", None, pythons=(NEWEST,), scenarios=(),
          detail=f"has no wheel for Python {NEWEST}"),
    # issue "close the gate's remaining holes": markers, the NumPy API per Python, tests that patch
    Fault("marker-drops-a-python-for-a-dependency", _marker_drops_310, "validate", "course",
          expect=_expect_marker_blocker),
    Fault("np-removed-function-on-a-path-no-scenario-runs", _row_stack_on_unrun_path, "dependency-api", "16_mlops",
          pythons=(OLDEST, NEWEST), failing=frozenset({NEWEST}), scenarios=("imports",),
          detail=f"`np.row_stack` does not exist in NumPy 2.5.5 (Python {NEWEST}): modules/16_mlops/mlops.py:",
          expect=_expect_row_stack_line),
    Fault("tests-conftest-patches-numpy", _conftest_patches_numpy, "validate", "course", expect=_expect_test_patch(3)),
    Fault("tests-autouse-fixture-patches-numpy", _autouse_fixture_patches_numpy, "validate", "course",
          expect=_expect_test_patch(7)),
    Fault("tests-conftest-shadows-package-statically", _conftest_shadows_statically, "validate", "course",
          expect=_expect_test_patch(2)),
    Fault("install-lock-conflicts-with-requirement", _numpy_below_2, "install", None, pythons=(HERE,),
          scenarios=(), detail="numpy=="),
]
