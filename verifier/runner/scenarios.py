"""Running the student scenarios and the course's tests inside a fresh venv.

Each scenario is a plain script from `student_scenarios/`, copied into an empty temporary
directory and run there with the venv's interpreter in isolated mode (`python -I`), with a
timeout and a memory limit. Its last `TITO_RESULT {json}` line carries its key figures (a scenario
with a model adds a "behaviour" object, compared with a --baseline by pipeline/behaviour.py).
Shared helpers (`student_scenarios/_*.py`, e.g. `_roles.py`, which finds the course's class for a
role such as "conv2d") are copied beside it, and the course's own role table (`[tool.tinytorch.api]`
of its pyproject.toml) reaches it as JSON in the environment variable `TINYTORCH_API_ROLES`.
The course's tests run with pytest only after every scenario (pytest must not mask an
undeclared dependency), from a copy outside the source tree, with `--import-mode=importlib`
and a guard that the package comes from the venv (runner/testorigin.py).
"""
from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import student_scenarios

from ..course.discovery import Course
from ..course.files import ignore_special_files
from ..results import FAILED, PASSED, Attribution, StageResult
from .attribution import attribute_traceback
from .envs import Venv, clean_env
from .forkserver import ScenarioServer
from .processes import DEFAULT_MEMORY_MB, Completed, run, sandboxed
from .suspects import infer_blame, passing_unit_modules
from .testorigin import LAUNCH, PLUGIN_NAME, shadowing_path, write_plugin

RESULT_PREFIX = "TITO_RESULT "
MODULES_LINE = re.compile(r"^#\s*scenario-modules:\s*(?P<names>.+)$", re.MULTILINE)
TIMEOUT_LINE = re.compile(r"^#\s*scenario-timeout:\s*(?P<seconds>\d+)", re.MULTILINE)
ORDER = ("imports", "installation", "inter_module", "data_flow", "complete_pipeline", "cnn", "transformer",
         "persistence")
ROLE_MAP_VARIABLE = "TINYTORCH_API_ROLES"   # read by student_scenarios/_roles.py
COURSE_TESTS = "course-tests"   # the folder of a Python's work dir the course tests (and junit.xml) run in
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Scenario:
    name: str
    script: Path
    timeout: float
    modules: Tuple[str, ...]  # module names it exercises (empty: all)


def scenarios_dir() -> Path:
    return Path(student_scenarios.__file__).resolve().parent


def discover_scenarios(names: Optional[Sequence[str]] = None) -> List[Scenario]:
    found: Dict[str, Scenario] = {}
    for script in sorted(scenarios_dir().glob("*.py")):
        if script.name.startswith("_"):
            continue
        text = script.read_text(encoding="utf-8")
        modules = MODULES_LINE.search(text)
        timeout = TIMEOUT_LINE.search(text)
        found[script.stem] = Scenario(
            script.stem, script, float(timeout["seconds"]) if timeout else 300.0,
            tuple(n.strip() for n in modules["names"].split(",") if n.strip()) if modules else ())
    ordered = [found[n] for n in ORDER if n in found] + [s for n, s in found.items() if n not in ORDER]
    if names is not None:
        ordered = [s for s in ordered if s.name in names]
    return ordered


def shared_helpers() -> List[Path]:
    """Modules the scenarios import (`_roles.py`): not scenarios themselves, copied beside each one."""
    return [p for p in sorted(scenarios_dir().glob("_*.py")) if p.name != "__init__.py"]


def api_roles(course: Course) -> Dict[str, str]:
    """The course's `[tool.tinytorch.api]`: role -> "module:Name" for names that differ from TinyTorch's."""
    table = course.pyproject.get("tool", {}).get("tinytorch", {}).get("api", {})
    return {str(k): str(v) for k, v in table.items()} if isinstance(table, dict) else {}


def _figures(stdout: str) -> Dict[str, object]:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            try:
                value = json.loads(line[len(RESULT_PREFIX):])
                return value if isinstance(value, dict) else {"result": value}
            except ValueError:
                return {}
    return {}


def _failure_line(completed: Completed, timeout: float) -> str:
    if completed.timed_out:
        return f"timed out after {timeout:.0f} s (stopped)"
    lines = [line for line in completed.stderr.strip().splitlines() if line.strip()]
    if lines:
        return lines[-1].strip()[:300]
    if completed.returncode is not None and completed.returncode < 0:
        return f"killed by signal {-completed.returncode}"
    return f"exit code {completed.returncode}"


def scenario_env(roles: Optional[Dict[str, str]]) -> Dict[str, str]:
    """What a scenario's process adds to the clean environment: one thread, the course's role table."""
    return dict(SINGLE_THREAD, **{ROLE_MAP_VARIABLE: json.dumps(roles or {}, sort_keys=True)})


def run_scenario(venv: Venv, scenario: Scenario, workdir: Path, package: str = "tinytorch",
                 memory_mb: int = DEFAULT_MEMORY_MB, roles: Optional[Dict[str, str]] = None,
                 server: Optional[ScenarioServer] = None) -> StageResult:
    """Run one scenario script from an empty directory; never raises for the scenario's failure.
    `roles` is the course's role table (see `api_roles`); `server` (runner/forkserver.py, made with
    the same `scenario_env` and memory limit) forks the scenario's process instead of starting one."""
    here = workdir / f"scenario-{scenario.name}"
    here.mkdir(parents=True)
    script = here / scenario.script.name
    shutil.copy2(scenario.script, script)
    for helper in shared_helpers():
        shutil.copy2(helper, here / helper.name)
    completed = server.run(script.name, here, scenario.timeout) if server is not None and not sandboxed() else None
    if completed is None:  # no fork server (or it could not answer): a process of its own
        completed = run([venv.python, "-I", "-X", "faulthandler", script.name], cwd=here,
                        env=clean_env(scenario_env(roles)), timeout=scenario.timeout, memory_mb=memory_mb,
                        dump_on_timeout=True)
    result = StageResult(scenario.name, PASSED if completed.ok else FAILED, round(completed.seconds, 2),
                         figures=_figures(completed.stdout), peak_memory_mb=completed.peak_memory_mb)
    if not completed.ok:
        result.detail = _failure_line(completed, scenario.timeout)
        result.log = completed.tail(40)
        result.attribution = attribute_traceback(completed.stderr, package)
    return result


def _test_module(classname: str, file_attr: str) -> Optional[str]:
    """`tests.unit.test_spatial` -> `spatial` (only unit tests name one module)."""
    text = file_attr or classname.replace(".", "/")
    match = re.search(r"unit[/.]test_(?P<name>\w+?)(?:\.py)?$", text.split("::")[0]) or \
        re.search(r"unit\.test_(?P<name>\w+)", classname)
    return match["name"] if match else None


def _parse_junit(path: Path) -> Tuple[Dict[str, int], List[Tuple[str, str, Optional[str], str]]]:
    """Counts and failures (test id, message, module name, traceback text) of a pytest JUnit file."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    failures: List[Tuple[str, str, Optional[str], str]] = []
    root = ElementTree.parse(path).getroot()
    for case in root.iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if case.find("skipped") is not None:
            counts["skipped"] += 1
        elif problem is not None:
            counts["failed"] += 1
            classname = case.get("classname", "")
            failures.append((f"{classname}::{case.get('name')}", (problem.get("message") or "").splitlines()[0][:200]
                             if problem.get("message") else "", _test_module(classname, case.get("file", "")),
                             problem.text or ""))
        else:
            counts["passed"] += 1
    return counts, failures


def run_course_tests(venv: Venv, course: Course, workdir: Path, selection: Optional[Sequence[str]] = None,
                     timeout: float = 900.0, memory_mb: int = DEFAULT_MEMORY_MB,
                     site_packages: Optional[str] = None, installer: str = "pip") -> StageResult:
    """pytest over a copy of the course's tests against the installed wheel."""
    result = StageResult("course-tests")
    tests = course.root / "tests"
    if not tests.is_dir():
        result.status, result.detail = PASSED, "the course has no tests/ folder"
        return result
    install = venv.install(["pytest"], installer=installer)
    if not install.ok:
        result.status, result.detail, result.log = FAILED, "could not install pytest", install.tail(20)
        return result
    here = workdir / COURSE_TESTS
    # a FIFO or device in tests/ is left out (validation reports it, TT009): copying it would block or fail
    shutil.copytree(tests, here / "tests", ignore=ignore_special_files("__pycache__", "*.pyc"))
    (here / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # the course's own config stays out
    junit = here / "junit.xml"
    targets = [str(Path("tests") / t) for t in selection] if selection else ["tests"]
    site_packages = site_packages or str(venv.describe().get("site_packages") or "")
    plugins = write_plugin(workdir / "course-tests-plugins")

    def session(assertions: str) -> Completed:
        return run([venv.python, "-I", "-X", "faulthandler", "-c", LAUNCH, plugins, *targets, "-q",
                    "-p", "no:cacheprovider", "-p", PLUGIN_NAME, "--import-mode=importlib", f"--assert={assertions}",
                    "-c", "pytest.ini", "--rootdir", ".", f"--junitxml={junit.name}"],
                   cwd=here, env=clean_env({**SINGLE_THREAD, "TITO_SITE_PACKAGES": site_packages,
                                            "TITO_PACKAGE": course.package}),
                   timeout=timeout, memory_mb=memory_mb, dump_on_timeout=True)

    # First without pytest's assertion rewriting (half of pytest's start-up on the embedded course, per
    # Python): it changes the messages of failed asserts, not which test passes (unless a test reads the
    # rewritten text of an assert in a test file). A session that does not pass runs again, on a fresh copy
    # of the tests, exactly as pytest runs by default, and only that one is reported: a failure's report
    # shows the values its assert compared, and a test that failed only for the plain messages passes.
    completed = session("plain")
    seconds = completed.seconds
    if completed.returncode not in (0, 5) and not completed.timed_out and not completed.interrupted:
        shutil.rmtree(here / "tests")
        junit.unlink(missing_ok=True)
        shutil.copytree(tests, here / "tests", ignore=ignore_special_files("__pycache__", "*.pyc"))
        completed = session("rewrite")
        seconds += completed.seconds
    result.seconds = round(seconds, 2)
    result.peak_memory_mb = completed.peak_memory_mb
    shadow = shadowing_path(completed.stderr)
    if shadow and Path(shadow).is_relative_to(here.resolve()):
        shadow = str(Path(shadow).relative_to(here.resolve()))  # a path inside the copied tests/
    if shadow:
        result.status = FAILED
        result.detail = f"{course.package} was imported from {shadow}, not from the venv's site-packages " \
                        f"{site_packages}: the tests did not test the installed wheel"
        result.fix = f"remove what puts {shadow} on sys.path (a sys.path.insert in a conftest or test module)"
        result.log = completed.tail(40)
        return result
    if completed.timed_out or not junit.is_file():
        result.status = FAILED
        result.detail = _failure_line(completed, timeout) if completed.timed_out else \
            "pytest produced no results (collection or start-up failed)"
        result.log = completed.tail(40)
        result.attribution = attribute_traceback(completed.stdout + completed.stderr, course.package)
        return result
    counts, failures = _parse_junit(junit)
    result.figures = dict(counts)
    ran_ok = completed.returncode in (0, 5) and not failures
    result.status = PASSED if ran_ok and counts["passed"] else FAILED
    if failures:
        result.detail = f"{len(failures)} failed: " + "; ".join(f"{tid} ({msg})" for tid, msg, _, _ in failures[:3])
        result.log = "\n".join(f"{tid}: {msg}" for tid, msg, _, _ in failures)[-4000:]
        result.attribution = blame_from_tests(course, failures, passing_unit_modules(junit))
    elif not counts["passed"]:
        result.detail = "no test passed"
    else:
        result.detail = f"{counts['passed']} passed, {counts['skipped']} skipped"
    return result


def blame_from_tests(course: Course, failures: Sequence[Tuple[str, str, Optional[str], str]],
                     passing: Iterable[str] = ()) -> Optional[Attribution]:
    """The root cause among failing tests: a traceback into the package if one names a module,
    else the lowest-numbered module whose own unit tests fail (later modules build on it), else
    (integration tests failing on assertions only) the suspects inferred from what they import and
    exercise (runner/suspects.py), said to be an inference."""
    traced: List[Attribution] = []
    for _, _, _, text in failures:
        found = attribute_traceback(text, course.package)
        if found:
            traced.append(found)
    by_name = {m.name: m for m in course.modules}
    failing = sorted({by_name[n].number: by_name[n] for _, _, n, _ in failures if n in by_name}.items())
    if traced:
        return min(traced, key=lambda a: a.module)
    if failing:
        module = failing[0][1]
        return Attribution(module.key, str(module.source.relative_to(course.root)) if module.source else module.key,
                           None, how="course tests")
    if failures:
        return infer_blame(course, [tid for tid, _, _, _ in failures], passing)
    return None
