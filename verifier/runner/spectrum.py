"""Spectrum-based fault localisation: when failures reach no frame of the installed package (a course
test or scenario failing on an assertion), rerun the failing runs and passing ones (the course suite, within a budget)
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

Ties (equal score) go first to a function the failing test (or scenario) names in its own code over one
reached only through an operator or other dunder dispatch (`seq[:, -n:]` runs `Tensor.__getitem__` and
its helper `_getitem`; the test calls `model.generate`): what the test asks for directly is where its
expectation was written. Then to fewer passing executions, then to the higher-numbered module: two lines
with the same spectrum are, in practice, a later module's code and an earlier module's helper reached only
through it. Then the source order.

The passing sample: once the course-tests stage has run, the rerun is the WHOLE course suite (every test
file under tests/, not only a --tests selection), the failing tests moved to the end; a function that
only the failing runs executed in a small sample (a test's setup, an operator's helper) then meets the
passing tests that also run it. Cost (embedded course, 561 tests, one Python): 11.8 s of CPU in the
rerun's process against 8.6 s for the same suite without coverage (38–48 s wall on a loaded 2-core
machine). Bound: past SUITE_CPU_BUDGET seconds of the rerun's CPU time (or SUITE_WALL_BUDGET of wall
time) the rest of the suite is skipped, while the bounded sample (MAX_PASSING tests near the failures,
choose_passing) and the failing tests still run — at the cap the spectrum is the small-sample one. The
hard RERUN_TIMEOUT kills the rerun; then nothing is blamed by it. Without a course-tests run (a scenario
failed, tests off) the sample is MAX_SCENARIOS passing scenarios, as before.

Evidence outranks coverage: a module whose own unit tests (tests/unit/test_<name>.py) fail again in the
rerun is evidence in the course's own terms (the course-tests blame: the lowest-numbered such module);
the spectrum then only picks the function and line inside that module, and names the others as next.
None of its lines ran in a failing run: a course-tests blame stays as it was. The spectrum's top suspect
replaces a blame only when no unit test fails again — an inference from imports, a class named in a
scenario's message, or a course-tests blame whose unit tests failed only through test order.

Failing runs are the failures to explain and the tests the course-tests run did not run (outside a
--tests selection) that fail in the rerun — the same fault, seen by the course's own tests (an MSE
offset fails tests/unit/test_losses.py, outside a selection of tensor and layer tests). A test that
passed in the course-tests run and fails in the rerun (state an earlier test left) counts for neither.

Test order matters for state that leaks between tests (a grad mode not restored after an exception
fails every later test): the failing tests run last, in reverse of their original order, so a test that
failed only because an earlier one left the package in a bad state runs before that test and passes;
outcomes are those of the rerun. The verify run asks for the rerun at most once per run, on the first
Python whose failures need it.

Blame by change (`--baseline` a git ref, runner/changed.py): student lines changed since the baseline
that a failing run executed are the first suspects. None ran: the spectrum blame stands.
"""
from __future__ import annotations

import ast
import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import AbstractSet, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from ..course.discovery import Course, CourseModule
from ..results import FAILED, PASSED, Attribution, PythonResult, StageResult
from .attribution import MARKER, module_of_source
from .changed import ChangedLines, changed_attribution, rank_changed
from .envs import Venv, clean_env
from .ochiai import Line, ochiai
from .processes import DEFAULT_MEMORY_MB, run
from .scenarios import COURSE_TESTS, Scenario
from .spectrum_rerun import LAUNCHER, CourseTest, choose_passing, junit_cases, node_id
from .suspects import exercised_names, file_of_test

HOW = "spectrum"
UNIT_TEST = re.compile(r"tests/unit/test_(?P<name>\w+)\.py::")
MAX_FAILING = 40
MAX_SCENARIOS = 3
MIN_PASSING = 3          # fewer passing runs than this: no spectrum to compare, the blame stays as it was
RERUN_TIMEOUT = 300.0
SUITE_CPU_BUDGET = 60.0  # CPU seconds of the rerun's process; past it the rest of the suite is skipped
SUITE_WALL_BUDGET = RERUN_TIMEOUT / 2   # the same on a loaded machine, well before the hard timeout
OUTPUT = "spectrum.json"
PLAN = "spectrum-plan.json"



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
    direct: bool = False    # a failing test (or scenario) names it in its own code

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
    cpu_seconds: float = 0.0                           # of the pytest rerun's process (the machine may be shared)
    whole_suite: bool = False                          # the passing sample was the whole course suite
    cut: int = 0                                       # suite tests skipped past the budget
    also_failed: int = 0                               # passed in course-tests, failed in the rerun: left out
    problem: str = ""                                  # why no ranking could be made
    # what the ranking was computed from, for the blame by change (not in the report)
    coverage: Dict[Line, Set[str]] = field(default_factory=dict, repr=False)
    failing: Set[str] = field(default_factory=set, repr=False)
    passing: Set[str] = field(default_factory=set, repr=False)

    def figures(self) -> Dict[str, object]:
        return {"suspects": [asdict(s) for s in self.suspects[:5]], "failing_runs": self.failing_runs,
                "passing_runs": self.passing_runs, "order_dependent": len(self.flipped),
                "whole_suite": self.whole_suite, "cut": self.cut, "also_failed": self.also_failed,
                "seconds": round(self.seconds, 2), "cpu_seconds": round(self.cpu_seconds, 2),
                **({"problem": self.problem} if self.problem else {})}

    def attribution(self, lead: Optional[Suspect] = None) -> Optional[Attribution]:
        """The top suspect (or `lead`, the top one of a module other evidence names) and the next two."""
        if not self.suspects:
            return None
        top = lead or self.suspects[0]
        following = [s.describe() for s in self.suspects if s != top][:2]
        return Attribution(top.module, top.path, top.line, top.function, how=HOW,
                           suspects=list(dict.fromkeys([top.module] + [s.module for s in self.suspects]))[:3],
                           evidence="; ".join(following))


def named_directly(function: str, names: AbstractSet[str]) -> bool:
    """Does a test that uses `names` call `function` itself? A dunder method counts when its class is named
    (`Linear(...)` runs `Linear.__init__`); a function reached only through an operator (`x[:, 1]` ->
    `Tensor.__getitem__` -> `_getitem`) is not named."""
    parts = function.split(".")
    if parts[-1].startswith("__") and parts[-1].endswith("__"):
        return len(parts) > 1 and parts[-2] in names
    return parts[-1] in names


def rank(coverage: Mapping[Line, Set[str]], failing: Set[str], passing: Set[str],
         order: Mapping[str, int], direct: AbstractSet[str] = frozenset()) -> List[Suspect]:
    """Functions by Ochiai of their best line (see the module's docstring for the ties). `coverage`:
    mapped line -> ids of the runs that executed it; `order`: module key -> course number; `direct`: the
    names the failing tests and scenarios use in their own code (the first tie rule)."""
    best: Dict[Tuple[str, str, str], Tuple[Tuple[float, int, int], Suspect]] = {}
    for (module, path, line, function), runs in coverage.items():
        ef, ep = len(runs & failing), len(runs & passing)
        score = ochiai(ef, ep, len(failing))
        if score == 0.0:
            continue
        key = (module, path, function)
        within = (-score, ep, line)  # the function's own best line: higher score, fewer passes, earlier
        if key not in best or within < best[key][0]:
            best[key] = (within, Suspect(module, path, line, function, round(score, 4), ef, ep,
                                         named_directly(function, direct)))
    found = [s for _, s in best.values()]
    return sorted(found, key=lambda s: (-s.score, not s.direct, s.passed, -order.get(s.module, 0), s.path, s.line))


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


def classify(outcomes: Mapping[str, str], before: Mapping[str, bool]) -> Tuple[Set[str], Set[str], int]:
    """(failing runs, passing runs, runs left out) of a rerun. `before`: run id -> failed in the
    course-tests run (absent: not run there). A failing run is a failure to explain, or a test the
    course-tests run did not run (outside its selection) failing now; a test that passed there and fails
    here (through state an earlier test left) is neither evidence for nor against."""
    failing = {r for r, o in outcomes.items() if o == "failed" and before.get(r, True)}
    passing = {r for r, o in outcomes.items() if o == "passed"}
    return failing, passing, sum(1 for r, o in outcomes.items() if o == "failed" and before.get(r) is False)


def _coverage_installed(venv: Venv, installer: str) -> str:
    probe = run([venv.python, "-I", "-c", "import coverage"], env=clean_env(), timeout=60)
    if probe.ok:
        return ""
    install = venv.install(["coverage"], installer=installer)
    return "" if install.ok else "could not install coverage: " + install.tail(3)


def measure(venv: Venv, course: Course, workdir: Path, site_packages: str, failing: Sequence[CourseTest],
            passing: Sequence[CourseTest], scenarios: Sequence[Tuple[Path, bool]] = (), installer: str = "pip",
            memory_mb: int = DEFAULT_MEMORY_MB, timeout: float = RERUN_TIMEOUT,
            roles_env: Optional[Dict[str, str]] = None, helpers: Sequence[Path] = (), whole_suite: bool = False,
            direct: AbstractSet[str] = frozenset(), recorded: Sequence[CourseTest] = ()) -> Spectrum:
    """Rerun the tests (passing first, then failing in reverse order) and the scenarios (script, failed
    before?) under coverage in `venv`, and rank the package's functions. `whole_suite`: every test of the
    course's suite runs (the chosen `passing` sample always, the rest while the budget lasts); `recorded`:
    every test of the course-tests run, so a test that passed there and fails here is told apart."""
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

    def collect(result: Path) -> Dict[str, object]:
        try:
            data = json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        outcomes.update(data.get("outcomes", {}))
        for name, lines in data.get("files", {}).items():
            into = files.setdefault(name, {})
            for line, runs in lines.items():
                into.setdefault(line, set()).update(runs)
        return dict(data)

    if (failing or passing or whole_suite) and (course.root / "tests").is_dir():
        tests_dir = here / "tests"
        if not tests_dir.exists():
            shutil.copytree(course.root / "tests", tests_dir, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (here / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        keep: List[str] = []
        last: List[str] = []
        for case in list(passing) + list(reversed(failing)):
            node = node_id(here, case.test_id)
            if node is not None and node not in keep + last:
                (last if case.failed else keep).append(node)
                before[node] = case.failed
        for case in recorded:
            node = node_id(here, case.test_id)
            if node is not None:
                before.setdefault(node, case.failed)
        plan: Dict[str, object] = {"keep": keep, "last": last}
        if whole_suite:
            plan.update(cpu=SUITE_CPU_BUDGET, wall=min(SUITE_WALL_BUDGET, timeout / 2))
        (here / PLAN).write_text(json.dumps(plan), encoding="utf-8")
        targets = ["tests"] if whole_suite else keep + last   # no id at all would run the whole suite too
        if targets:
            completed = run([venv.python, "-I", "launch_spectrum.py", OUTPUT, "pytest", *targets, "-q", "-p",
                             "no:cacheprovider", "--import-mode=importlib", "-c", "pytest.ini", "--rootdir", ".",
                             "-o", "console_output_style=classic"],
                            cwd=here, env={**env, "TITO_SPECTRUM_PLAN": str(here / PLAN)},
                            timeout=max(1.0, deadline - time.monotonic()), memory_mb=memory_mb)
            if completed.timed_out:
                spectrum.problem = f"the coverage rerun timed out after {timeout:.0f} s"
            data = collect(here / OUTPUT)
            spectrum.whole_suite = whole_suite
            spectrum.cut = int(str(data.get("cut", 0)))
            spectrum.cpu_seconds = float(str(data.get("cpu", 0.0)))
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
    failing_runs, passing_runs, spectrum.also_failed = classify(outcomes, before)
    spectrum.flipped = sorted(r for r in passing_runs if before.get(r))
    spectrum.failing_runs, spectrum.passing_runs = len(failing_runs), len(passing_runs)
    by_key = {m.key: m.number for m in course.modules}
    spectrum.coverage, spectrum.failing, spectrum.passing = map_coverage(files), failing_runs, passing_runs
    spectrum.suspects = rank(spectrum.coverage, failing_runs, passing_runs, by_key, direct)
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


def direct_names(course: Course, failing: Sequence[CourseTest], scripts: Sequence[Path]) -> Set[str]:
    """The names the failing tests (through their file's helpers) and failing scenario scripts use in their
    own code, split at the dots (`model.generate` -> model, generate): the first tie rule of `rank`."""
    chains: Set[str] = set()
    trees: Dict[Path, Optional[ast.Module]] = {}
    for case in failing:
        classname, _, name = case.test_id.partition("::")
        path = file_of_test(course, classname)
        if path is None:
            continue
        if path not in trees:
            try:
                trees[path] = ast.parse(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
                trees[path] = None
        tree = trees[path]
        chains |= (exercised_names(tree, name) or set()) if tree is not None else set()
    for script in scripts:
        try:
            tree = ast.parse(script.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        chains |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        chains |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return {part for chain in chains for part in chain.split(".")}


def evidence_module(course: Course, failing_runs: Iterable[str]) -> Optional[CourseModule]:
    """The lowest-numbered module whose own unit tests (tests/unit/test_<name>.py) failed again in the
    rerun: the course-tests blame recomputed from failures that do not depend on test order."""
    by_name = {m.name: m for m in course.modules}
    found = [by_name[match["name"]] for run_id in failing_runs
             for match in [UNIT_TEST.match(run_id)] if match and match["name"] in by_name]
    return min(found, key=lambda m: m.number) if found else None


def blame_for(stage: StageResult, spectrum: Spectrum, evidence: Optional[CourseModule]) -> Optional[Attribution]:
    """The spectrum's blame for one stage, under the rule that evidence outranks coverage (module
    docstring): with a module whose own unit tests fail again, the spectrum only picks the function in
    that module (none of its lines ran in a failing run: a course-tests blame stays, another is replaced
    by the spectrum's top); without one, the spectrum's top suspect."""
    if evidence is None:
        return spectrum.attribution()
    lead = next((s for s in spectrum.suspects if s.module == evidence.key), None)
    if lead is not None:
        return spectrum.attribution(lead)
    kept = stage.attribution is not None and stage.attribution.how == "course tests"
    return None if kept else spectrum.attribution()


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
    # the whole suite as the passing sample once the course tests have run (they pass or fail; either way
    # the suite is what the course itself considers a run of its code), bounded by SUITE_CPU_BUDGET
    whole_suite = bool(cases) and (course.root / "tests").is_dir()
    if not passing and not whole_suite:  # no passing test to compare with: the cheapest passing scenarios of this run
        done = sorted((s for s in python.stages if s.status == PASSED and s.name in by_name), key=lambda s: s.seconds)
        runs += [(by_name[s.name].script, False) for s in done[:MAX_SCENARIOS]]
    if not failing and not failing_scenarios:
        return Spectrum(problem="no failing test or scenario to rerun")
    if not passing and not whole_suite and len(runs) == len(failing_scenarios) and not by_change:
        return Spectrum(problem="no passing test or scenario to compare with")
    direct = direct_names(course, failing, [sc.script for sc in failing_scenarios])
    spectrum = measure(venv, course, home, python.site_packages or "", failing, passing, runs, installer=installer,
                       memory_mb=memory_mb, roles_env=roles_env, helpers=helpers, whole_suite=whole_suite,
                       direct=direct, recorded=cases)
    if spectrum.passing_runs < MIN_PASSING and not spectrum.problem:
        spectrum.problem = f"only {spectrum.passing_runs} passing runs to compare with"
    usable = not spectrum.problem
    evidence = evidence_module(course, spectrum.failing)
    changed: Dict[str, object] = {}
    by_changed_lines: Optional[Attribution] = None
    if changes is not None:
        order = {m.key: m.number for m in course.modules}
        ranked = rank_changed(spectrum.coverage, spectrum.failing, spectrum.passing, changes, order)
        changed = {"since": changes.label, "files": len(changes.lines),
                   "executed": [{"module": s.module, "where": s.where(), "function": s.function, "score": s.score,
                                 "failing_runs": s.failed} for s in ranked[:5]]}
        if changes.problem:
            changed["problem"] = changes.problem
        by_changed_lines = changed_attribution(ranked, changes.label)
    for stage in stages:
        figures = spectrum.figures()
        if changed:
            figures["changed"] = changed
        blame = by_changed_lines or (blame_for(stage, spectrum, evidence) if usable else None)
        if usable and by_changed_lines is None:
            figures["evidence"] = evidence.key if evidence is not None else None
        if blame is not None:
            if stage.attribution is not None:
                figures["replaced"] = stage.attribution.describe()
            stage.attribution = blame
        stage.figures["spectrum"] = figures
    return spectrum
