"""The canary's pieces without a verify run: the warning-origin filter (runner/warnhook.py) must fire on a
deprecation the package causes and stay quiet on another library's, both as a pure function and as the
hook really installed in a child Python; the pre-release requirements keep markers; the `-X dev` launcher
really starts development mode; a blocking canary becomes a failed course stage, an advisory one not."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EMBEDDED_COURSE

from verifier.course.discovery import load_course
from verifier.pipeline.canary import (
    DevModeVenv,
    blocking_stage,
    dev_mode_launcher,
    install_hook,
    prerelease_requirements,
    read_findings,
)
from verifier.results import FAILED, PASSED, CanaryFinding, CanaryReport
from verifier.runner import warnhook
from verifier.runner.envs import Venv

SP = os.sep.join(["", "venv", "lib", "python3.13", "site-packages"])
PACKAGE = [SP + os.sep + "tinytorch"]


def p(*parts: str) -> str:
    return os.sep.join([SP, *parts])


def test_origin_fires_when_the_warning_names_the_package() -> None:
    # numpy warns with stacklevel=2: the warning names the package's line that called it
    assert warnhook.origin(p("tinytorch", "core", "tensor.py"), [p("numpy", "_core", "x.py"),
                                                                  p("tinytorch", "core", "tensor.py")],
                           PACKAGE) == ("attributed", -1)


def test_origin_fires_through_a_library_that_warned_with_too_shallow_a_stacklevel() -> None:
    stack = [p("numpy", "lib", "y.py"), p("numpy", "lib", "z.py"), p("tinytorch", "core", "layers.py"), "<string>"]
    assert warnhook.origin(p("numpy", "lib", "y.py"), stack, PACKAGE) == ("through numpy", 2)


def test_origin_quiet_on_a_library_import_a_library_calling_another_and_foreign_code() -> None:
    # scipy warns while it is imported (by the package): the first frame outside scipy is importlib's
    importing = [p("scipy", "__init__.py"), "<frozen importlib._bootstrap>", p("tinytorch", "__init__.py")]
    assert warnhook.origin(p("scipy", "__init__.py"), importing, PACKAGE) is None
    # pandas calls a deprecated numpy API (numpy names pandas' line): pandas' business, not the course's
    calling = [p("numpy", "a.py"), p("pandas", "b.py"), p("tinytorch", "data.py")]
    assert warnhook.origin(p("pandas", "b.py"), calling, PACKAGE) is None
    # a scenario or a course test calling a deprecated API itself
    assert warnhook.origin("/work/scenario-cnn/cnn.py", ["/work/scenario-cnn/cnn.py"], PACKAGE) is None
    # the package deprecating its own API to its caller (stacklevel=2 names the test's line): not Python's or NumPy's
    assert warnhook.origin("/work/tests/test_x.py", [p("tinytorch", "old.py"), "/work/tests/test_x.py"],
                           PACKAGE) is None
    # a folder whose name only starts like the package's
    assert warnhook.origin(p("tinytorch_extras", "a.py"), [p("tinytorch_extras", "a.py")], PACKAGE) is None


LIBRARY = '''\
import warnings
warnings.warn("otherlib warns while it is imported", DeprecationWarning, stacklevel=1)
import thirdlib

def deprecated():
    warnings.warn("otherlib.deprecated() is deprecated", DeprecationWarning, stacklevel=2)

def shallow():
    warnings.warn("otherlib.shallow(x) will change", FutureWarning, stacklevel=1)

def internal():
    return thirdlib.old()
'''
THIRD = '''\
import warnings
def old():
    warnings.warn("thirdlib.old() is deprecated", DeprecationWarning, stacklevel=2)
'''
PACKAGE_CODE = '''\
import warnings
import otherlib

def uses_deprecated():
    return otherlib.deprecated()

def uses_shallow():
    return otherlib.shallow()

def uses_internal():
    return otherlib.internal()

def own_user_warning():
    warnings.warn("a UserWarning is not a deprecation", UserWarning)
'''
DRIVER = '''\
import sys, warnings
sys.path.insert(0, sys.argv[1])
import _tito_canary_warnings as hook
hook.install()
import tinytorch
outcome = {}
for name in ("uses_deprecated", "uses_shallow", "uses_internal", "own_user_warning"):
    with warnings.catch_warnings(record=True) as log:   # as pytest captures each test's warnings
        warnings.simplefilter("always")
        try:
            getattr(tinytorch, name)()
            outcome[name] = "ok, %d shown" % len(log)
        except Warning as error:
            outcome[name] = "raised %s" % type(error).__name__
try:
    warnings.warn("the driver's own deprecation", DeprecationWarning)
    outcome["driver"] = "ok"
except Warning:
    outcome["driver"] = "raised"
print(outcome)
'''


def test_hook_in_a_child_python_raises_and_records_only_the_package_s_deprecations(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    for name, code in (("tinytorch", PACKAGE_CODE), ("otherlib", LIBRARY), ("thirdlib", THIRD)):
        (site / name).mkdir(parents=True)
        (site / name / "__init__.py").write_text(code, encoding="utf-8")
    record = tmp_path / "record.jsonl"
    install_hook(site, site / "tinytorch", record)
    completed = subprocess.run([sys.executable, "-I", "-c", DRIVER, str(site)], capture_output=True, text=True,
                               timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str({"uses_deprecated": "raised DeprecationWarning",
                                            "uses_shallow": "raised FutureWarning",
                                            "uses_internal": "ok, 0 shown", "own_user_warning": "ok, 1 shown",
                                            "driver": "ok"})
    assert "otherlib warns" not in completed.stderr   # another library's import-time warning: not even printed
    records = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    assert [(r["category"], r["how"], Path(r["file"]).name, r["line"]) for r in records] == [
        ("DeprecationWarning", "attributed", "__init__.py", 5), ("FutureWarning", "through otherlib", "__init__.py", 8)]
    findings = read_findings(record, tmp_path, str(site))
    assert [(f.path, f.line, f.how, f.raised_in) for f in findings] == [
        (os.path.join("tinytorch", "__init__.py"), 5, "attributed", ""),
        (os.path.join("tinytorch", "__init__.py"), 8, "through otherlib",
         os.path.join("otherlib", "__init__.py") + ":9")]


def test_hook_is_inert_without_its_configuration(tmp_path: Path) -> None:
    shutil.copyfile(warnhook.__file__, tmp_path / "_tito_canary_warnings.py")
    code = "import sys; sys.path.insert(0, sys.argv[1]); import _tito_canary_warnings as h, warnings; " \
           "before = warnings._showwarnmsg; h.install(); print(warnings._showwarnmsg is before)"
    completed = subprocess.run([sys.executable, "-I", "-c", code, str(tmp_path)], capture_output=True, text=True,
                               timeout=60)
    assert completed.stdout.strip() == "True", completed.stderr


def test_findings_map_the_installed_line_to_the_student_source(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    (site / "tinytorch" / "core").mkdir(parents=True)
    installed = site / "tinytorch" / "core" / "mlops.py"
    installed.write_text("import datetime\n# %% modules/16_mlops/mlops.py:150 (cell 4)\ndef save_model():\n"
                         "    return datetime.datetime.utcnow()\n", encoding="utf-8")
    rows = [{"category": "DeprecationWarning", "message": "utcnow is deprecated", "file": str(installed), "line": 4,
             "how": "attributed", "cwd": str(tmp_path / "scenario-persistence"), "argv": ["persistence.py"],
             "test": ""},
            {"category": "DeprecationWarning", "message": "utcnow is deprecated", "file": str(installed), "line": 4,
             "how": "attributed", "cwd": str(tmp_path / "course-tests"), "argv": ["-c"],
             "test": "tests/integration/test_mlops.py::test_save (call)"}]
    record = tmp_path / "record.jsonl"
    record.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"cut short', encoding="utf-8")
    [finding] = read_findings(record, tmp_path, str(site))
    assert (finding.module, finding.path, finding.line, finding.function) == \
        ("16_mlops", "modules/16_mlops/mlops.py", 151, "save_model")
    assert finding.seen_in == ["scenario persistence", "course test tests/integration/test_mlops.py::test_save"]


def test_prerelease_requirements_name_each_direct_dependency_with_its_marker(tmp_path: Path) -> None:
    assert prerelease_requirements(load_course(EMBEDDED_COURSE)) == ["numpy>=0.dev0"]
    course = load_course(EMBEDDED_COURSE)
    course.pyproject["project"]["dependencies"] = ["numpy>=1.22,<3", 'tomli[x]>=2; python_version < "3.11"',
                                                   "bad req !!", "pkg @ https://example.invalid/pkg.whl"]
    assert prerelease_requirements(course) == ["numpy>=0.dev0", 'tomli[x]>=0.dev0; python_version < "3.11"']


@pytest.mark.skipif(os.name == "nt", reason="the POSIX launcher")
def test_dev_mode_launcher_starts_development_mode(tmp_path: Path) -> None:
    venv = Venv(tmp_path / "venv")
    venv.python.parent.mkdir(parents=True)
    venv.python.symlink_to(sys.executable)
    dev = DevModeVenv(venv.root, launcher=dev_mode_launcher(venv))
    completed = subprocess.run([str(dev.python), "-I", "-c", "import sys; print(sys.flags.dev_mode, sys.argv[1:])",
                                "a b"], capture_output=True, text=True, timeout=60)
    assert completed.stdout.strip() == "True ['a b']", completed.stderr


def test_blocking_canary_is_a_failed_stage_naming_the_line() -> None:
    finding = CanaryFinding("DeprecationWarning", "utcnow is deprecated", "modules/16_mlops/mlops.py", 161,
                            "16_mlops", "save_model", seen_in=["scenario persistence"])
    blocked = blocking_stage(CanaryReport("block", "3.13", numpy_version="2.5.5", findings=[finding]))
    assert blocked.status == FAILED and "modules/16_mlops/mlops.py:161" in blocked.detail
    assert blocked.attribution is not None and blocked.attribution.module == "16_mlops"
    assert blocking_stage(CanaryReport("block", "3.13", numpy_version="2.5.5")).status == PASSED


def test_canary_report_survives_verify_json_and_shows_in_the_summary() -> None:
    from rich.console import Console

    from verifier.render.terminal import print_summary
    from verifier.results import VerifyResult, result_from_json

    finding = CanaryFinding("FutureWarning", "x will change", "modules/05_dense/dense.py", 40, "05_dense", "Dense",
                            "through numpy", "numpy/lib/a.py:9", ["import tinytorch.core.dense"])
    result = VerifyResult("/c", "0.1.0", ["3.13"], False, "now")
    result.canary = CanaryReport("warn", "3.13", "3.13.0", "2.5.5", 12.0, [finding], ["cnn: boom"])
    back = result_from_json(json.loads(json.dumps(result.to_json())))
    assert back.canary == result.canary
    console = Console(record=True, width=300, no_color=True)
    print_summary(back, console)
    text = console.export_text()
    assert "modules/05_dense/dense.py:40: FutureWarning: x will change (raised in numpy/lib/a.py:9, through numpy) " \
           "— seen in import tinytorch.core.dense" in text
    assert "canary stage failed: cnn: boom" in text
