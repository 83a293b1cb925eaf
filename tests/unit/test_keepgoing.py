"""Unit tests of issue 11/12's pieces: importing each module alone (errors and side effects,
attributed through the export markers), entry points, Requires-Dist with markers and extras,
one-line pip failures, the test-origin guard, and keep-going / fail-fast stage bookkeeping."""
from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import pytest

from verifier.package.wheelcheck import requirement_problems, wheel_entry_points, wheel_modules
from verifier.pipeline.verify import not_run
from verifier.results import FAILED, NOT_RUN, PASSED, PythonResult, StageResult
from verifier.runner.entrypoints import EntryPoint, entry_points_stage
from verifier.runner.envs import Venv, install_failure
from verifier.runner.imports import import_stage
from verifier.runner.testorigin import shadowing_path


def fake_venv(root: Path) -> Venv:
    """A venv the way `venv` makes one (pyvenv.cfg + the interpreter), without installing pip."""
    (root / "bin").mkdir(parents=True)
    os.symlink(sys.executable, root / "bin" / "python")
    (root / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).parent}\ninclude-system-site-packages = false\n")
    return Venv(root)


def site_packages(root: Path) -> Path:
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    path = root / "lib" / version / "site-packages"
    path.mkdir(parents=True)
    return path


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def installed(tmp_path):
    """`tinyfake` in a fake venv: a star-importing __init__, a module that prints, one that raises,
    one that writes a file, and a healthy one (that must not be blamed for its siblings)."""
    if os.name != "posix":
        pytest.skip("fake venv layout is POSIX")
    venv = fake_venv(tmp_path / "venv")
    sp = site_packages(tmp_path / "venv")
    pkg = sp / "tinyfake"
    write(pkg / "__init__.py", "from .core.ok import *\nfrom .core.loud import *\nfrom .core.broken import *\n")
    write(pkg / "core" / "__init__.py", "")
    write(pkg / "core" / "ok.py", "# %% modules/01_ok/ok.py:5 (cell 1)\nOK = 1\n")
    write(pkg / "core" / "loud.py", "# %% modules/02_loud/loud.py:20 (cell 2)\nLOUD = 2\nprint('loaded!')\n")
    write(pkg / "core" / "broken.py", "# %% modules/03_broken/broken.py:30 (cell 3)\nfrom .ok import OK\n"
                                      "X = OK / 0\n")
    write(pkg / "core" / "writer.py", "# %% modules/04_writer/writer.py:40 (cell 4)\n"
                                      "open('cache.bin', 'w').write('x')\n")
    targets = {"tinyfake.core.ok": "01_ok", "tinyfake.core.loud": "02_loud", "tinyfake.core.broken": "03_broken",
               "tinyfake.core.writer": "04_writer"}
    return venv, targets


def test_each_module_alone_errors_and_side_effects_attributed(installed):
    venv, targets = installed
    modules = ["tinyfake", "tinyfake.core", "tinyfake.core.ok", "tinyfake.core.loud", "tinyfake.core.broken",
               "tinyfake.core.writer"]
    stage = import_stage(venv, modules, "tinyfake", targets, memory_mb=2048, jobs=2, timeout=60)
    failed = stage.figures["failed_modules"]
    assert stage.status == FAILED
    # the broken __init__ fails the package itself, attributed to the module that raised
    assert "ZeroDivisionError" in failed["tinyfake"] and "modules/03_broken/broken.py:31" in failed["tinyfake"]
    # siblings that are fine on their own are not blamed for the package __init__
    assert "tinyfake.core.ok" not in failed and "tinyfake.core" not in failed
    assert "modules/03_broken/broken.py:31" in failed["tinyfake.core.broken"]
    effects = stage.figures["side_effects"]  # side effects are listed apart from imports that raise
    assert "tinyfake.core.loud" not in failed and "tinyfake.core.writer" not in failed
    assert "printed to stdout" in effects["tinyfake.core.loud"] and "modules/02_loud/loud.py:21" in effects[
        "tinyfake.core.loud"]
    assert "cache.bin" in effects["tinyfake.core.writer"] and "modules/04_writer/writer.py:40" in effects[
        "tinyfake.core.writer"]
    assert stage.attribution is not None and stage.attribution.module == "02_loud"  # lowest-numbered
    assert len(effects) == 2


def test_clean_package_passes(installed, tmp_path):
    venv, targets = installed
    only_ok = {"tinyfake.core.ok": targets["tinyfake.core.ok"]}
    stage = import_stage(venv, ["tinyfake.core.ok"], "tinyfake", only_ok, jobs=1, timeout=60)
    assert stage.status == PASSED and stage.figures["failed_modules"] == {}


def test_a_module_the_wheel_lost_fails_like_a_students_import(installed):
    # upstream 4246c759 ships a placeholder wheel: every exported module is promised, none is there
    venv, targets = installed
    promised = {"tinyfake.core.ok": "01_ok", "tinyfake.core.gone": "05_gone"}
    stage = import_stage(venv, ["tinyfake", "tinyfake.core", "tinyfake.core.ok"], "tinyfake", promised, jobs=1,
                         timeout=60)
    assert stage.status == FAILED
    assert stage.figures["not_in_wheel"] == ["tinyfake.core.gone"]
    assert "No module named 'tinyfake.core.gone'" in stage.figures["failed_modules"]["tinyfake.core.gone"]


def test_entry_points_resolve_or_block_naming_the_declaration(installed):
    venv, _ = installed
    cli = next(venv.root.glob("lib/python*/site-packages")) / "tinyep"
    write(cli / "__init__.py", "")
    write(cli / "cli.py", "# %% modules/09_cli/cli.py:3 (cell 1)\ndef main():\n    return 0\nVERSION = '1'\n")
    targets = {"tinyep.cli": "09_cli"}
    good = EntryPoint("tinyep.plugins", "ok", "tinyep.cli:main", "")
    module_only = EntryPoint("tinyep.plugins", "mod", "tinyep.cli", "")
    bad = EntryPoint("tinyep.plugins", "gone", "tinyep.cli:run", "pyproject.toml:12")
    not_callable = EntryPoint("tinyep.plugins", "const", "tinyep.cli:VERSION", "pyproject.toml:13")
    stage = entry_points_stage(venv, [good, module_only, bad, not_callable], "tinyep", targets, memory_mb=2048)
    assert stage.status == FAILED
    assert set(stage.figures["failed"]) == {"gone", "const"}
    assert "pyproject.toml:12" in stage.detail and "has no attribute 'run'" in stage.detail
    assert "not callable" in stage.figures["failed"]["const"]
    assert stage.attribution.module == "09_cli" and stage.attribution.line == 12
    assert entry_points_stage(venv, [good, module_only], "tinyep", targets).status == PASSED
    # the broken package of the fixture: its entry point fails through the package __init__
    broken = entry_points_stage(venv, [EntryPoint("x", "y", "tinyfake.core.ok:OK", "")], "tinyfake", {})
    assert broken.status == FAILED and "ZeroDivisionError" in broken.detail


def make_wheel(path: Path, files: dict) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def test_wheel_modules_and_entry_points(tmp_path):
    wheel = make_wheel(tmp_path / "t-0.1-py3-none-any.whl", {
        "t/__init__.py": "", "t/core/__init__.py": "", "t/core/tensor.py": "", "t/data.txt": "",
        "t-0.1.dist-info/entry_points.txt": "[console_scripts]\nTito = t.cli:main\n\n[t.plugins]\nx = t.core\n"})
    assert wheel_modules(wheel, "t") == ["t", "t.core", "t.core.tensor"]
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "t"\n\n[project.scripts]\nTito = "t.cli:main"\n')
    points = {p.name: p for p in wheel_entry_points(wheel, pyproject)}
    assert points["Tito"].declared_at == "pyproject.toml:5" and points["Tito"].script
    assert points["Tito"].module == "t.cli" and points["Tito"].attribute == "main"
    assert points["x"].attribute == "" and not points["x"].script


PROJECT = {"optional-dependencies": {"Dev": ["pytest>=8", 'tomli>=2; python_version < "3.11"'], "plot": ["matplotlib"]}}
DEPS = ["numpy>=1.22,<3"]


def test_requires_dist_with_extras_and_markers_matches_pyproject():
    shipped = {"Requires-Dist": ["numpy<3,>=1.22", "pytest>=8; extra == 'dev'",
                                 'tomli>=2; python_version < "3.11" and extra == "dev"', 'matplotlib; extra == "plot"'],
               "Provides-Extra": ["dev", "plot"]}
    assert requirement_problems(PROJECT, DEPS, shipped) == []


def test_requires_dist_differences_are_named():
    extra_lost = {"Requires-Dist": ["numpy<3,>=1.22", "pytest>=8",
                                    'tomli>=2; python_version < "3.11" and extra == "dev"',
                                    'matplotlib; extra == "plot"'],
                  "Provides-Extra": ["dev", "plot"]}
    problems = requirement_problems(PROJECT, DEPS, extra_lost)
    assert len(problems) == 1 and "only in the wheel ['pytest>=8']" in problems[0]
    marker_changed = dict(extra_lost, **{"Requires-Dist": ["numpy<3,>=1.22", "pytest>=8; extra == 'dev'",
                                                            'tomli>=2; python_version < "3.12" and extra == "dev"',
                                                            'matplotlib; extra == "plot"']})
    assert requirement_problems(PROJECT, DEPS, marker_changed)
    no_extra = dict(extra_lost, **{"Provides-Extra": ["dev"]})
    assert any("extras" in p for p in requirement_problems(PROJECT, DEPS, no_extra))


def test_pip_failures_in_one_line():
    no_wheel = ("ERROR: Could not find a version that satisfies the requirement numpy<2,>=1.22 (from tinytorch) "
                "(from versions: 2.1.0, 2.1.1, 2.3.4)\nERROR: No matching distribution found for numpy<2,>=1.22\n")
    assert install_failure(no_wheel, "3.13") == \
        "numpy<2,>=1.22 (required by tinytorch) has no wheel for Python 3.13; wheels for this Python exist " \
        "for 2.1.0 … 2.3.4"
    none = "ERROR: Could not find a version that satisfies the requirement numpy<1 (from versions: none)\n"
    assert install_failure(none, "3.9").endswith("no version has a wheel for it")
    conflict = ("ERROR: Cannot install tinytorch==0.1.0 because these package versions have conflicting "
                "dependencies.\n\nThe conflict is caused by:\n    tinytorch 0.1.0 depends on numpy<2 and >=1.22\n"
                "    The user requested (constraint) numpy==2.4.6\n\nTo fix this you could try to:\n"
                "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io\n")
    line = install_failure(conflict, "3.11", "py3.11.txt")
    assert line == "conflicting requirements: tinytorch 0.1.0 requires numpy<2 and >=1.22 but the lock " \
                   "py3.11.txt pins numpy==2.4.6"
    assert install_failure("ERROR: something else\n", "3.12") == "something else"


def test_shadowing_path_is_read_from_the_guard_line():
    assert shadowing_path("x\nTITO_SHADOWED tinytorch /tmp/t/tests/helpers/tinytorch/__init__.py\n") == \
        "/tmp/t/tests/helpers/tinytorch/__init__.py"
    assert shadowing_path("all good\n") == ""


def test_not_run_stages_make_a_python_not_run_not_failed():
    python = PythonResult("3.12", stages=[not_run("venv", "the build failed: no wheel to install")])
    assert python.status == NOT_RUN and not python.verified
    assert python.stages[0].detail == "not run: the build failed: no wheel to install"
    python.stages.append(StageResult("install", FAILED))
    assert python.status == FAILED


def test_a_third_party_notice_on_first_import_is_not_the_courses_side_effect(installed):
    # e.g. a plotting library printing "building the font cache" and writing it on its first import
    venv, targets = installed
    sp = next((venv.root / "lib").glob("python*/site-packages"))
    write(sp / "noisylib" / "__init__.py", "import os\nprint('building the font cache')\n"
                                          "os.makedirs('.cache', exist_ok=True)\n"
                                          "open('.cache/fonts', 'w').write('x')\n")
    write(sp / "tinyfake" / "core" / "plots.py", "# %% modules/06_plots/plots.py:10 (cell 1)\nimport noisylib\n")
    stage = import_stage(venv, ["tinyfake.core.plots"], "tinyfake", {"tinyfake.core.plots": "06_plots"}, jobs=1,
                         timeout=60)
    assert stage.status == PASSED, stage.figures


def test_uv_resolver_failures_become_one_line_like_pips():
    from verifier.runner.envs import install_failure
    no_wheel = ("error: No solution found when resolving dependencies\n"
                "  cause: Because numpy>=1.22.0,<=1.26.4 has no usable wheels and only the following versions of "
                "numpy are available:\n             numpy<=1.26.4\n             numpy>=2\n"
                "         we can conclude that numpy>=1.22.0,<2 cannot be used.\n\n"
                "hint: Wheels are required for `numpy` because building from source is disabled for all packages")
    assert install_failure(no_wheel, "3.13").startswith("numpy>=1.22.0,<=1.26.4 has no wheel for Python 3.13")
    conflict = ("error: No solution found when resolving dependencies\n  cause: Because tinytorch==0.1.0 depends on "
                "numpy>=1.22,<2 and you require numpy==2.4.6, we can conclude that tinytorch==0.1.0 cannot be used.\n"
                "  And because only tinytorch==0.1.0 is available and you require tinytorch, we can conclude that "
                "your requirements are unsatisfiable.")
    assert install_failure(conflict, "3.11", "py3.11.txt") == (
        "conflicting requirements: tinytorch==0.1.0 requires numpy>=1.22,<2 and the lock py3.11.txt pins numpy==2.4.6")
