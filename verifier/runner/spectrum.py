"""Spectrum-based fault localisation: when failures reach no frame of the installed package (a course
test or scenario failing on an assertion), rerun the failing runs and a bounded sample of passing ones
in the same venv under line coverage, one coverage context per test (or scenario), and rank the
package's functions by Ochiai: ef / sqrt((ef + nf) * (ef + ep)) — ef/ep the failing/passing runs that
executed the function's most suspicious line, nf the failing runs that did not.

Covered lines of `site-packages/<package>/*.py` are mapped back through the export markers (`# %%
modules/NN_x/x.py:LINE (cell N)`, runner/attribution.py) to the course module, the student's file and
line and the function around it; module-level lines (run once, at import) carry no per-run evidence and
are left out.

Why a function scores by its best line rather than by "executed at all": a function such as
`Linear.__init__` runs in nearly every test, but its `init="xavier"` branch only where attention is
built — the branch, not the function, separates failing runs from passing ones.

Ties (equal score) go to fewer passing executions, then to the higher-numbered module: two lines with
the same spectrum are, in practice, a later module's code and an earlier module's helper reached only
through it — the caller decides when the helper runs, and the earlier module is the one its own unit
tests (part of the passing sample) already exercise on other paths. Then the source order.

Test order matters for state that leaks between tests (a grad mode not restored after an exception
fails every later test): the rerun runs the passing sample first and then the failing tests in
reverse of their original order, so a test that failed only because an earlier one left the
package in a bad state runs before that test and passes; outcomes are those of the rerun.

Cost is bounded: at most MAX_FAILING failing and MAX_PASSING passing tests, at most MAX_SCENARIOS
passing scenarios when no passing test is available, one timeout for the rerun, and the verify run
asks for it at most once per run, on the first Python whose failures need it.

Blame by change (`--baseline` a git ref): student lines changed since the baseline (pipeline/baseline.py)
that a failing run executed are the first suspects, per module file as the changed hunks holding such a
line, ranked by their best line's Ochiai, then by failing runs. None ran (or only module-level code
changed, which per-run coverage cannot see): the spectrum blame stands. No baseline: nothing changes.
"""
from __future__ import annotations

import ast
import json
import shutil
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from ..course.discovery import Course
from ..results import FAILED, PASSED, Attribution, PythonResult, StageResult
from .attribution import MARKER, module_of_source
from .changed import ChangedLines, changed_attribution, rank_changed
from .envs import Venv, clean_env
from .ochiai import Line, ochiai
from .processes import DEFAULT_MEMORY_MB, run
from .scenarios import COURSE_TESTS, Scenario

HOW = "spectrum"
MAX_FAILING = 40
MAX_PASSING = 80
MAX_SCENARIOS = 3
MIN_PASSING = 3          # fewer passing runs than this: no spectrum to compare, the blame stays as it was
QUICK_TEST = 1.0         # seconds: a test slower than this is rerun only when it is near a failure
RERUN_TIMEOUT = 300.0
OUTPUT = "spectrum.json"



@dataclass(frozen=True)
class Suspect:
    """One function of the package, ranked."""
    module: str             # "02_autograd"
    path: str               # "modules/02_autograd/autograd.py"
    line: int               # the student's line of the function's most suspicious statement
    function: str           # "no_grad.__exit__"
    score: float            # Ochiai of that line
    failed: int             # ef: failing runs that executed it
    passed: int             # ep: passing runs that executed it

    def describe(self) -> str:
        return f"{self.module} ({self.path}:{self.line}, in {self.function})"


@dataclass
class Spectrum:
    """The ranking and what it was computed from (recorded in verify.json under the stage's figures)."""
    suspects: List[Suspect] = field(default_factory=list)
    failing_runs: int = 0
    passing_runs: int = 0
    flipped: List[str] = field(default_factory=list)   # failed before, passed in the rerun (order-dependent)
    seconds: float = 0.0
    problem: str = ""                                  # why no ranking could be made
    # what the ranking was computed from, for the blame by change (not in the report)
    coverage: Dict[Line, Set[str]] = field(default_factory=dict, repr=False)
    failing: Set[str] = field(default_factory=set, repr=False)
    passing: Set[str] = field(default_factory=set, repr=False)

    def figures(self) -> Dict[str, object]:
        return {"suspects": [asdict(s) for s in self.suspects[:5]], "failing_runs": self.failing_runs,
                "passing_runs": self.passing_runs, "order_dependent": len(self.flipped),
                "seconds": round(self.seconds, 2), **({"problem": self.problem} if self.problem else {})}

    def attribution(self) -> Optional[Attribution]:
        if not self.suspects:
            return None
        top = self.suspects[0]
        following = [s.describe() for s in self.suspects[1:3]]
        return Attribution(top.module, top.path, top.line, top.function, how=HOW,
                           suspects=[s.module for s in self.suspects[:3]], evidence="; ".join(following))


def rank(coverage: Mapping[Line, Set[str]], failing: Set[str], passing: Set[str],
         order: Mapping[str, int]) -> List[Suspect]:
    """Functions by Ochiai of their best line (see the module's docstring for the ties). `coverage`:
    mapped line -> ids of the runs that executed it; `order`: module key -> course number."""
    best: Dict[Tuple[str, str, str], Tuple[Tuple[float, int, int], Suspect]] = {}
    for (module, path, line, function), runs in coverage.items():
        ef, ep = len(runs & failing), len(runs & passing)
        score = ochiai(ef, ep, len(failing))
        if score == 0.0:
            continue
        key = (module, path, function)
        within = (-score, ep, line)  # the function's own best line: higher score, fewer passes, earlier
        if key not in best or within < best[key][0]:
            best[key] = (within, Suspect(module, path, line, function, round(score, 4), ef, ep))
    found = [s for _, s in best.values()]
    return sorted(found, key=lambda s: (-s.score, s.passed, -order.get(s.module, 0), s.path, s.line))


# -- mapping installed lines back to the course ------------------------------------------------------

class _Installed:
    """One exported file of the installed package: for each line, the innermost function and the marker."""

    def __init__(self, path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        self.markers: List[Tuple[int, str, Optional[int]]] = []
        for number, row in enumerate(text.splitlines(), 1):
            match = MARKER.match(row)
            if match:
                self.markers.append((number, match["source"], int(match["line"]) if match["line"] else None))
        self.functions: List[Tuple[int, int, str]] = []   # (first line, last line, qualname), outer first
        self._walk(ast.parse(text).body, [])

    def _walk(self, body: Sequence[ast.stmt], names: List[str]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualname = ".".join(names + [node.name])
                first = node.body[0].lineno  # the body: the `def` line itself runs at import
                self.functions.append((first, getattr(node, "end_lineno", None) or first, qualname))
                self._walk(node.body, names + [node.name])
            elif isinstance(node, ast.ClassDef):
                self._walk(node.body, names + [node.name])

    def map(self, line: int) -> Optional[Tuple[str, int, str]]:
        """(source path, source line, function) of an installed line inside a function, else None."""
        inside = [f for f in self.functions if f[0] <= line <= f[1]]
        marker = next((m for m in reversed(self.markers) if m[0] < line), None)
        if not inside or marker is None:
            return None
        number, source, source_line = marker
        offset = line - number - 1
        return source, (source_line + offset if source_line else offset + 1), inside[-1][2]


def map_coverage(files: Mapping[str, Mapping[str, Iterable[str]]]) -> Dict[Line, Set[str]]:
    """Coverage of installed files (path -> line -> run ids) as mapped course lines -> run ids."""
    mapped: Dict[Line, Set[str]] = {}
    for name, lines in files.items():
        try:
            installed = _Installed(Path(name))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        for line, runs in lines.items():
            where = installed.map(int(line))
            if where is None:
                continue
            module = module_of_source(where[0])
            if module is None:
                continue
            mapped.setdefault((module, where[0], where[1], where[2]), set()).update(runs)
    return mapped


# -- the rerun inside the venv -------------------------------------------------------------------------

# Runs inside the venv (never imports the verifier): coverage of the package only, one context per test
# (setup, call and teardown, so fixtures count) or one per scenario; writes outcomes and line -> contexts.
LAUNCHER = r'''
import json, os, runpy, sys
import coverage

out, mode = sys.argv[1], sys.argv[2]
cov = coverage.Coverage(data_file=None, source=[os.environ["TITO_MEASURE"]], config_file=False)
outcomes = {}
cov.start()
try:
    if mode == "pytest":
        import pytest

        class _Contexts:
            @pytest.hookimpl(hookwrapper=True)
            def pytest_runtest_protocol(self, item, nextitem):
                cov.switch_context(item.nodeid)
                yield
                cov.switch_context("")

            def pytest_runtest_logreport(self, report):
                if report.failed:
                    outcomes[report.nodeid] = "failed"
                elif report.when == "call" and report.passed:
                    outcomes.setdefault(report.nodeid, "passed")

        pytest.main(sys.argv[3:], plugins=[_Contexts()])
    else:
        script = sys.argv[3]
        cov.switch_context("scenario:" + os.path.splitext(os.path.basename(script))[0])
        sys.argv = [script]
        key = "scenario:" + os.path.splitext(os.path.basename(script))[0]
        try:
            runpy.run_path(script, run_name="__main__")
            outcomes[key] = "passed"
        except SystemExit as exc:
            outcomes[key] = "passed" if exc.code in (None, 0) else "failed"
        except BaseException:
            outcomes[key] = "failed"
finally:
    cov.stop()
data = cov.get_data()
files = {}
for name in data.measured_files():
    lines = {}
    for line, contexts in (data.contexts_by_lineno(name) or {}).items():
        kept = [c for c in contexts if c]
        if kept:
            lines[str(line)] = kept
    files[name] = lines
with open(out, "w") as handle:
    json.dump({"outcomes": outcomes, "files": files}, handle)
'''


@dataclass(frozen=True)
class CourseTest:
    """One course test as the JUnit file of the course-tests stage records it, in run order."""
    test_id: str      # "tests.unit.test_autograd::test_no_grad_records_nothing"
    failed: bool
    skipped: bool = False
    seconds: float = 0.0


def junit_cases(path: Path) -> List[CourseTest]:
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return []
    cases = []
    for case in root.iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        try:
            seconds = float(case.get("time") or 0.0)
        except ValueError:
            seconds = 0.0
        cases.append(CourseTest(f"{case.get('classname', '')}::{case.get('name')}", failed,
                              case.find("skipped") is not None, seconds))
    return cases


def node_id(tests_root: Path, test_id: str) -> Optional[str]:
    """`tests.unit.test_x.TestY::test_z[1]` -> `tests/unit/test_x.py::TestY::test_z[1]` (relative to the
    folder holding `tests/`), or None when no such file exists."""
    classname, _, name = test_id.partition("::")
    parts = classname.split(".")
    for end in range(len(parts), 0, -1):
        if tests_root.joinpath(*parts[:end]).with_suffix(".py").is_file():
            return "::".join(["/".join(parts[:end]) + ".py", *parts[end:], name])
    return None


def _file_of(test_id: str) -> str:
    return test_id.partition("::")[0]


def choose_passing(cases: Sequence[CourseTest], failing: Sequence[CourseTest], near_files: Sequence[str] = (),
                   limit: int = MAX_PASSING) -> List[CourseTest]:
    """A bounded passing sample, in run order: first the passing tests of the failing tests' files and
    of `near_files` (classnames, e.g. the unit tests of the modules a failing scenario exercises), taken
    in turn from each file (the file of the first failure first) so every file is represented, then
    tests spread evenly over the rest of the suite."""
    passing = [c for c in cases if not c.failed and not c.skipped]
    files: List[str] = []
    for name in [_file_of(c.test_id) for c in failing] + list(near_files):
        if name not in files:
            files.append(name)
    queues = [[c for c in passing if _file_of(c.test_id) == name] for name in files]
    chosen: List[CourseTest] = []
    while len(chosen) < limit and any(queues):
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    taken = set(chosen)
    rest = [c for c in passing if c not in taken and c.seconds <= QUICK_TEST]  # the spread sample stays cheap
    room = limit - len(chosen)
    if room > 0 and rest:
        step = len(rest) / min(room, len(rest))
        chosen += [rest[int(i * step)] for i in range(min(room, len(rest)))]
    position = {c: i for i, c in enumerate(cases)}
    return sorted(chosen, key=lambda c: position[c])


def _coverage_installed(venv: Venv, installer: str) -> str:
    probe = run([venv.python, "-I", "-c", "import coverage"], env=clean_env(), timeout=60)
    if probe.ok:
        return ""
    install = venv.install(["coverage"], installer=installer)
    return "" if install.ok else "could not install coverage: " + install.tail(3)


def measure(venv: Venv, course: Course, workdir: Path, site_packages: str, failing: Sequence[CourseTest],
            passing: Sequence[CourseTest], scenarios: Sequence[Tuple[Path, bool]] = (), installer: str = "pip",
            memory_mb: int = DEFAULT_MEMORY_MB, timeout: float = RERUN_TIMEOUT,
            roles_env: Optional[Dict[str, str]] = None, helpers: Sequence[Path] = ()) -> Spectrum:
    """Rerun the tests (passing first, then failing in reverse order) and the scenarios (script, failed
    before?) under coverage in `venv`, and rank the package's functions."""
    began = time.monotonic()
    spectrum = Spectrum()
    spectrum.problem = _coverage_installed(venv, installer)
    if spectrum.problem:
        return spectrum
    here = workdir / "spectrum"
    here.mkdir(parents=True, exist_ok=True)
    (here / "launch_spectrum.py").write_text(LAUNCHER, encoding="utf-8")
    env = clean_env({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                     "TITO_MEASURE": str(Path(site_packages) / course.package), **(roles_env or {})})
    deadline = began + timeout
    outcomes: Dict[str, str] = {}
    files: Dict[str, Dict[str, Set[str]]] = {}
    before: Dict[str, bool] = {}

    def collect(result: Path) -> None:
        try:
            data = json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        outcomes.update(data.get("outcomes", {}))
        for name, lines in data.get("files", {}).items():
            into = files.setdefault(name, {})
            for line, runs in lines.items():
                into.setdefault(line, set()).update(runs)

    if (failing or passing) and (course.root / "tests").is_dir():
        tests_dir = here / "tests"
        if not tests_dir.exists():
            shutil.copytree(course.root / "tests", tests_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (here / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        ids: List[str] = []
        for case in list(passing) + list(reversed(failing)):
            node = node_id(here, case.test_id)
            if node is not None and node not in ids:
                ids.append(node)
                before[node] = case.failed
        completed = run([venv.python, "-I", "launch_spectrum.py", OUTPUT, "pytest", *ids, "-q", "-p",
                         "no:cacheprovider", "--import-mode=importlib", "-c", "pytest.ini", "--rootdir", ".",
                         "-o", "console_output_style=classic"],
                        cwd=here, env=env, timeout=max(1.0, deadline - time.monotonic()), memory_mb=memory_mb)
        if completed.timed_out:
            spectrum.problem = f"the coverage rerun timed out after {timeout:.0f} s"
        collect(here / OUTPUT)
    for script, failed_before in scenarios:
        if time.monotonic() >= deadline:
            spectrum.problem = f"the coverage rerun timed out after {timeout:.0f} s"
            break
        folder = here / f"scenario-{script.stem}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(script, folder / script.name)
        for helper in helpers:
            shutil.copy2(helper, folder / helper.name)
        shutil.copy2(here / "launch_spectrum.py", folder / "launch_spectrum.py")
        before[f"scenario:{script.stem}"] = failed_before
        run([venv.python, "-I", "launch_spectrum.py", OUTPUT, "scenario", script.name], cwd=folder, env=env,
            timeout=max(1.0, deadline - time.monotonic()), memory_mb=memory_mb)
        collect(folder / OUTPUT)
    failing_runs = {r for r, o in outcomes.items() if o == "failed"}
    passing_runs = {r for r, o in outcomes.items() if o == "passed"}
    spectrum.flipped = sorted(r for r in passing_runs if before.get(r))
    spectrum.failing_runs, spectrum.passing_runs = len(failing_runs), len(passing_runs)
    by_key = {m.key: m.number for m in course.modules}
    spectrum.coverage, spectrum.failing, spectrum.passing = map_coverage(files), failing_runs, passing_runs
    spectrum.suspects = rank(spectrum.coverage, failing_runs, passing_runs, by_key)
    if not spectrum.suspects and not spectrum.problem:
        spectrum.problem = "no failing run executed the package" if failing_runs else "no run failed again"
    spectrum.seconds = time.monotonic() - began
    return spectrum


# -- when a verify run asks for it ------------------------------------------------------------------------

ELIGIBLE = ("inferred", "course tests", "message")   # blames made without a traceback into the package


def needs_spectrum(python: PythonResult, scenarios: Sequence[Scenario]) -> List[StageResult]:
    """The failed course-tests and scenario stages of one Python whose blame reached no package frame."""
    names = {s.name for s in scenarios} | {"course-tests"}
    return [s for s in python.stages if s.status == FAILED and s.name in names
            and (s.attribution is None or s.attribution.how in ELIGIBLE)]


def localise(venv: Venv, course: Course, python: PythonResult, home: Path, scenarios: Sequence[Scenario],
             stages: Sequence[StageResult], installer: str = "pip", memory_mb: int = DEFAULT_MEMORY_MB,
             roles_env: Optional[Dict[str, str]] = None, helpers: Sequence[Path] = (),
             changes: Optional[ChangedLines] = None) -> Spectrum:
    """Rank the package's functions for `stages` (see needs_spectrum) and, when there are enough passing
    runs to compare with, blame the top one on each stage; the ranking goes into each stage's figures.
    `changes` (a --baseline): changed lines a failing run executed take the blame first."""
    by_change = changes is not None and bool(changes.lines)
    by_name = {s.name: s for s in scenarios}
    cases = junit_cases(home / COURSE_TESTS / "junit.xml")
    failing = [c for c in cases if c.failed][:MAX_FAILING] if any(s.name == "course-tests" for s in stages) else []
    failing_scenarios = [by_name[s.name] for s in stages if s.name in by_name]
    near = [f"tests.unit.test_{name}" for sc in failing_scenarios for name in sc.modules]
    passing = choose_passing(cases, failing, near)
    runs = [(sc.script, True) for sc in failing_scenarios]
    if not passing:  # no passing test to compare with: the cheapest passing scenarios of this run
        done = sorted((s for s in python.stages if s.status == PASSED and s.name in by_name), key=lambda s: s.seconds)
        runs += [(by_name[s.name].script, False) for s in done[:MAX_SCENARIOS]]
    if not failing and not failing_scenarios:
        return Spectrum(problem="no failing test or scenario to rerun")
    if not passing and len(runs) == len(failing_scenarios) and not by_change:
        return Spectrum(problem="no passing test or scenario to compare with")
    spectrum = measure(venv, course, home, python.site_packages or "", failing, passing, runs, installer=installer,
                       memory_mb=memory_mb, roles_env=roles_env, helpers=helpers)
    if spectrum.passing_runs < MIN_PASSING and not spectrum.problem:
        spectrum.problem = f"only {spectrum.passing_runs} passing runs to compare with"
    blame = spectrum.attribution() if not spectrum.problem else None
    changed: Dict[str, object] = {}
    if changes is not None:
        order = {m.key: m.number for m in course.modules}
        ranked = rank_changed(spectrum.coverage, spectrum.failing, spectrum.passing, changes, order)
        changed = {"since": changes.label, "files": len(changes.lines),
                   "executed": [{"module": s.module, "where": s.where(), "function": s.function, "score": s.score,
                                 "failing_runs": s.failed} for s in ranked[:5]]}
        if changes.problem:
            changed["problem"] = changes.problem
        blame = changed_attribution(ranked, changes.label) or blame
    for stage in stages:
        figures = spectrum.figures()
        if changed:
            figures["changed"] = changed
        if blame is not None:
            if stage.attribution is not None:
                figures["replaced"] = stage.attribution.describe()
            stage.attribution = blame
        stage.figures["spectrum"] = figures
    return spectrum
