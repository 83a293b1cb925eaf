"""TT223 (a dependency's marker excludes a Python of the matrix while exported code imports it at load)
and TT260/TT261 (course tests that patch what they test): where they must fire, where they must not,
and the real upstream snapshots (no finding: their tests edit sys.path toward the project root and use
scoped mocks only — judged in the notes of these checks)."""
from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from corpus_truth import CORPUS
from helpers import MATRIX_CLASSIFIERS, MINI_MODULE, write_files

from verifier.checks.validate import validate
from verifier.course.discovery import load_course
from verifier.pipeline.gate import decide

REPO = Path(__file__).resolve().parents[2]
CODES = ("TT223", "TT260", "TT261")


def course(tmp_path: Path, dependencies: str, files=None, module: str = MINI_MODULE) -> Path:
    pyproject = ('[project]\nname = "tinytorch"\nversion = "0.1"\nrequires-python = ">=3.9"\n'
                 f"dependencies = {dependencies}\n" + MATRIX_CLASSIFIERS)
    tree = {"pyproject.toml": pyproject, "modules/01_alpha/alpha.py": module}
    tree.update(files or {})
    return write_files(tmp_path / "course", tree)


def found(root: Path, *codes: str):
    return [f for f in validate(load_course(root)).findings if f.code in (codes or CODES)]


# -- TT223 ------------------------------------------------------------------------------------------
def test_marker_excluding_the_oldest_python_fires_at_the_requirement_line(tmp_path):
    root = course(tmp_path, '[\n    "numpy>=1.22; python_version >= \'3.10\'",\n]')
    (finding,) = found(root, "TT223")
    assert finding.severity == "error" and finding.module == "course"
    assert (finding.path, finding.line, finding.pythons) == ("pyproject.toml", 6, ("3.9",))
    assert finding.issue.startswith("numpy is not installed on Python 3.9 (marker `python_version >= \"3.10\"`, "
                                    "pyproject.toml:6) but tinytorch.core.alpha imports it at load")
    blocker = next(b for b in decide_on(finding) if "TT223" in b.message or "numpy" in b.message)
    assert blocker.module == "course" and blocker.python == "3.9"


def decide_on(finding):
    from verifier.results import VerifyResult
    r = VerifyResult("/c", "0.1", ["3.9"], strict=True, started="now")
    r.findings = [finding]
    return decide(r).blockers


def test_marker_dropping_a_middle_python_written_with_escapes(tmp_path):
    root = course(tmp_path, '["numpy>=1.22; python_version != \\"3.10\\""]')
    (finding,) = found(root, "TT223")
    assert finding.pythons == ("3.10",) and finding.line == 5


@pytest.mark.parametrize("dependencies, module", [
    ('["numpy>=1.22"]', MINI_MODULE),                                         # no marker
    ('["numpy>=1.22; python_version >= \'3.9\'"]', MINI_MODULE),              # admits the whole matrix
    ('["numpy<2; python_version < \'3.10\'", "numpy>=2; python_version >= \'3.10\'"]', MINI_MODULE),  # united
    ('["numpy; sys_platform != \'win32\'"]', MINI_MODULE),                    # a platform-only exclusion
    ('["numpy; python_full_version >= \'3.9.2\'"]', MINI_MODULE),             # some patch releases only
    ('["numpy; python_version >= \'3.10\'"]',                                 # the import is guarded
     MINI_MODULE.replace("import numpy as np", "try:\n    import numpy as np\nexcept ImportError:\n    np = None")),
    ('["numpy; python_version >= \'3.10\'"]',                                 # ... or version-guarded
     MINI_MODULE.replace("import numpy as np",
                         "import sys\nif sys.version_info >= (3, 10):\n    import numpy as np")),
    ('["numpy; python_version >= \'3.10\'"]',                                 # ... or only in a function
     MINI_MODULE.replace("import numpy as np\n", "").replace("def double(x):\n",
                                                              "def double(x):\n    import numpy as np\n")),
])
def test_markers_that_leave_no_python_without_an_imported_dependency_do_not_fire(tmp_path, dependencies, module):
    assert found(course(tmp_path, dependencies, module=module), "TT223") == []


# -- TT260 / TT261 ----------------------------------------------------------------------------------
def test_conftest_patching_numpy_blocks_with_its_line(tmp_path):
    root = course(tmp_path, '["numpy>=1.22"]', {
        "tests/conftest.py": "import numpy as np\n\n\ndef pytest_configure(config):\n    np.row_stack = np.vstack\n",
        "tests/unit/test_alpha.py": "import sys\nimport tinytorch.core.alpha as alpha\n"
                                    "from tinytorch.core.alpha import double\n"
                                    "alpha.double = lambda x: x\nsetattr(double, 'cached', 1)\n"
                                    "sys.modules['numpy.linalg'] = None\n",
    })
    findings = found(root)
    assert [(f.code, f.path, f.line) for f in findings] == [
        ("TT260", "tests/conftest.py", 5), ("TT260", "tests/unit/test_alpha.py", 4),
        ("TT260", "tests/unit/test_alpha.py", 5), ("TT260", "tests/unit/test_alpha.py", 6)]
    assert "`np.row_stack = np.vstack` conftest.py" in findings[0].issue and "numpy" in findings[0].issue


def test_stale_package_copy_put_first_on_sys_path_blocks(tmp_path):
    root = course(tmp_path, '["numpy>=1.22"]', {
        "tests/conftest.py": "import os, sys\n"
                             "sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'helpers'))\n",
        "tests/helpers/tinytorch/__init__.py": "",
    })
    (finding,) = found(root)
    assert (finding.code, finding.line) == ("TT260", 2) and "tests/helpers" in finding.issue


def test_other_third_party_patch_is_a_warning(tmp_path):
    root = course(tmp_path, '["numpy>=1.22"]', {"tests/conftest.py": "import requests\nrequests.get = None\n"})
    (finding,) = found(root)
    assert finding.code == "TT261" and finding.severity == "warning"


def test_scoped_and_in_function_patches_and_project_root_paths_are_no_finding(tmp_path):
    root = course(tmp_path, '["numpy>=1.22"]', {
        "tests/conftest.py": "import sys\nfrom pathlib import Path\n"
                             "sys.path.insert(0, str(Path(__file__).parent.parent))\n"
                             "import pytest\n\n@pytest.fixture\ndef no_numpy(monkeypatch):\n"
                             "    monkeypatch.setattr('numpy.row_stack', None)\n",
        "tests/test_a.py": "import numpy as np\nimport matplotlib.pyplot as plt\nfrom unittest import mock\n"
                           "plt.rcParams['figure.dpi'] = 50\nnp.random.seed(0)\n\n"
                           "def test_x():\n    np.row_stack = np.vstack\n\n"
                           "if __name__ == '__main__':\n    np.vstack = None\n",
    })
    assert found(root) == []


def test_autouse_fixture_monkeypatching_numpy_blocks(tmp_path):
    # undone after each test, redone before every one: every test runs against the patched NumPy
    root = course(tmp_path, '["numpy>=1.22"]', {
        "tests/conftest.py": "import sys\nimport numpy as np\nimport pytest\n\n\n"
                             "@pytest.fixture(autouse=True)\ndef compat(monkeypatch):\n"
                             "    monkeypatch.setattr(np, 'row_stack', np.vstack, raising=False)\n"
                             "    monkeypatch.setattr('numpy.product', np.prod, raising=False)\n"
                             "    monkeypatch.setitem(sys.modules, 'tinytorch.core.alpha', None)\n\n\n"
                             "@pytest.fixture\ndef on_demand(monkeypatch):\n"
                             "    monkeypatch.setattr(np, 'vstack', None)\n",
    })
    assert [(f.code, f.line) for f in found(root)] == [("TT260", 8), ("TT260", 9), ("TT260", 10)]


def test_embedded_course_has_none_of_these_findings():
    assert found(REPO / "course") == []


@pytest.mark.parametrize("commit", ["4246c759", "52e1cf6f", "ce776937"])
def test_real_upstream_snapshots_have_none_of_these_findings(tmp_path, commit):
    archive = CORPUS / f"tinytorch-{commit}.tar.gz"
    if not archive.is_file():
        pytest.skip(f"no TinyTorch corpus at {archive} (shared/ beside the clone)")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path)  # noqa: S202 — our own corpus
    (root,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert found(root) == []


def test_import_failures_on_a_python_the_marker_excludes_are_blamed_on_the_course():
    from verifier.findingmodel import Finding
    from verifier.pipeline.pytasks import blame_marker_gap
    from verifier.results import FAILED, Attribution, StageResult
    finding = Finding("TT223", "course", "pyproject.toml", 14, "numpy is not installed on Python 3.10",
                      "make the marker admit Python 3.10", pythons=("3.10",))

    def failed(name="module-imports", error="ModuleNotFoundError: No module named 'numpy'"):
        stage = StageResult(name, FAILED, detail=error, attribution=Attribution("01_tensor", "x.py", 1))
        stage.figures = {"failed_modules": {"tinytorch.core.tensor": f"{error} — 01_tensor (x.py:1)"}}
        return stage

    stage = failed()
    blame_marker_gap(stage, "3.10", [finding])
    assert stage.attribution is not None and (stage.attribution.module, stage.attribution.line) == ("course", 14)
    assert stage.fix == finding.fix
    scenario = failed("cnn")
    blame_marker_gap(scenario, "3.10", [finding])
    assert scenario.attribution is not None and scenario.attribution.module == "course"
    for python, error in (("3.11", "ModuleNotFoundError: No module named 'numpy'"),  # the marker admits 3.11
                          ("3.10", "NameError: name 'x' is not defined")):             # another cause
        other = failed(error=error)
        blame_marker_gap(other, python, [finding])
        assert other.attribution is not None and other.attribution.module == "01_tensor"
