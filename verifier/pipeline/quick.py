"""The quick integration check of one module: what `tinytorch-verifier export MODULE` runs after writing, and
`tinytorch-verifier package test --quick --module MODULE` runs on a temporary export.

For a changed module it takes the module and every module that depends on it (the `--module`
selection), then: the static checks (validation, AST only) of those modules, and an import of
each of their exported files from the package just written — each file on its own, with the
package `__init__` kept out of the way so one broken module does not hide the others — then
the package `__init__` itself. The imports run in one sandboxed child process
(runner/processes.py `run`), from an empty directory, with one Python (the newest of the
course's matrix) in a cached venv that holds only the course's dependencies (runner/depvenvs.py).

`IntegrationPlan` is also what `tinytorch-verifier package test --module X --plan` prints: dependencies,
dependents, scenarios and tests, without running anything.
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..course.discovery import Course
from ..results import Attribution
from ..runner.attribution import attribute_traceback

QUICK_TIMEOUT = 300.0

# Runs inside the child: each exported file imported on its own (the package __init__, which
# star-imports every module, is replaced by an empty package object first), then the package.
IMPORT_CHECK = r"""
import importlib, json, sys, time, traceback, types
root, package, checks = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path.insert(0, root)
def fresh_package():
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
    stub = types.ModuleType(package)
    stub.__path__ = [root + "/" + package]
    sys.modules[package] = stub
for target, components in checks:
    began = time.perf_counter()
    fresh_package()
    try:
        module = importlib.import_module(target)
        missing = [n for n in components if not hasattr(module, n)]
        if missing:
            raise AssertionError("promised components missing from %s: %s" % (target, ", ".join(missing)))
        out = {"target": target, "ok": True, "detail": "imported; %d components present" % len(components)}
    except BaseException as exc:
        out = {"target": target, "ok": False, "detail": "%s: %s" % (type(exc).__name__, exc),
               "traceback": traceback.format_exc()}
    out["seconds"] = round(time.perf_counter() - began, 3)
    print("TITO_CHECK " + json.dumps(out), flush=True)
for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
    del sys.modules[name]
began = time.perf_counter()
try:
    importlib.import_module(package)
    out = {"target": package, "ok": True, "detail": "package __init__ imports every module"}
except BaseException as exc:
    out = {"target": package, "ok": False, "detail": "%s: %s" % (type(exc).__name__, exc),
           "traceback": traceback.format_exc()}
out["seconds"] = round(time.perf_counter() - began, 3)
print("TITO_CHECK " + json.dumps(out), flush=True)
"""


@dataclass
class IntegrationPlan:
    """What to run after `module` changed."""
    module: str                       # module key, e.g. 03_activations
    dependencies: List[str]           # every module it builds on (transitive), course order
    dependents: List[str]             # every module building on it (transitive), course order
    scenarios: List[str]              # student scenarios that exercise any of them
    tests: List[str]                  # course test files (relative to tests/)
    imports: List[str]                # exported modules the quick check imports

    @property
    def modules(self) -> List[str]:
        return [self.module] + self.dependents


def _closure(edges: Dict[str, List[str]], start: str) -> set:
    seen: set = set()
    todo = list(edges.get(start, []))
    while todo:
        key = todo.pop()
        if key not in seen:
            seen.add(key)
            todo += edges.get(key, [])
    return seen


def plan_integration(course: Course, ref: str, edges: Optional[Dict[str, List[str]]] = None,
                     module_targets: Optional[Dict[str, str]] = None) -> IntegrationPlan:
    """The module `ref`, its dependencies and dependents, and the scenarios, tests and imports
    that cover it and its dependents (from the actual import graph). `edges` (module key -> keys
    it depends on) and `module_targets` (module key -> export target) may be passed in when
    planning many modules at once."""
    from ..deps.graph import course_graph
    from ..package.export import plan_export
    from .selection import select_for_names

    module = course.module(ref)
    if edges is None:
        edges = course_graph(course).edges()
    if module_targets is None:
        module_targets = plan_export(course).module_targets
    needs = _closure(edges, module.key)
    dependents = [m.key for m in course.modules if m.key != module.key and module.key in _closure(edges, m.key)]
    scenarios, tests = select_for_names(course, [m.name for m in course.modules
                                                 if m.key == module.key or m.key in dependents])
    imports = [f"{course.package}.{module_targets[key]}" for key in [module.key] + dependents if key in module_targets]
    return IntegrationPlan(module.key, [m.key for m in course.modules if m.key in needs], dependents, scenarios,
                           tests, imports)


def merge_plans(plans: Sequence[IntegrationPlan]) -> IntegrationPlan:
    """One plan for several changed modules (`tinytorch-verifier export --all`): the union, in course order."""
    if len(plans) == 1:
        return plans[0]
    changed = [p.module for p in plans]

    def union(lists: Sequence[List[str]], exclude: Sequence[str] = ()) -> List[str]:
        seen: List[str] = []
        for items in lists:
            seen += [i for i in items if i not in seen and i not in exclude]
        return seen

    modules = changed + union([p.dependents for p in plans], changed)
    label = "all modules" if len(changed) > 3 else ", ".join(changed)
    merged = IntegrationPlan(label, union([p.dependencies for p in plans], modules),
                             union([p.dependents for p in plans], changed), union([p.scenarios for p in plans]),
                             union([p.tests for p in plans]), union([p.imports for p in plans]))
    return merged


def render_plan(plan: IntegrationPlan, quick: bool) -> str:
    """The QA message: what the check covers and what it would run."""
    package = plan.imports[0].split(".")[0] if plan.imports else "tinytorch"
    head = (f"Integration testing for {plan.module}:\n"
            f"Dependencies: {plan.dependencies}\n"
            f"Dependents: {plan.dependents}\n")
    if quick:
        return head + f"Tests to run: {[f'import {name}' for name in plan.imports] + [f'import {package}']}\n"
    return head + f"Scenarios to run: {plan.scenarios}\nTests to run: {[f'tests/{t}' for t in plan.tests]}\n"


@dataclass
class ImportCheck:
    target: str
    ok: bool
    detail: str
    seconds: float = 0.0
    attribution: Optional[Attribution] = None


@dataclass
class QuickResult:
    """The outcome of the quick check of one or more changed modules."""
    plans: List[IntegrationPlan]
    python: str = ""
    static_errors: List[str] = field(default_factory=list)     # one line per validation error
    static_warnings: int = 0
    checks: List[ImportCheck] = field(default_factory=list)
    seconds: float = 0.0
    problem: str = ""                                          # the check itself could not run

    @property
    def ok(self) -> bool:
        return not self.problem and not self.static_errors and bool(self.checks) and all(c.ok for c in self.checks)

    def render(self) -> str:
        out: List[str] = []
        out.append(render_plan(merge_plans(self.plans), quick=True).rstrip("\n"))
        out.append(f"Static checks: {'FAIL' if self.static_errors else 'PASS'} "
                   f"({len(self.static_errors)} errors, {self.static_warnings} warnings)")
        out += [f"  - {line}" for line in self.static_errors]
        if self.problem:
            out.append(f"Results: FAIL — the check could not run: {self.problem}")
        else:
            passed = sum(c.ok for c in self.checks)
            out.append(f"Results: {'PASS' if self.ok else 'FAIL'} — {passed}/{len(self.checks)} imports passed "
                       f"on Python {self.python} ({self.seconds:.1f} s)")
            for check in self.checks:
                if not check.ok:
                    blame = f" — {check.attribution.describe()}" if check.attribution else ""
                    out.append(f"  - FAIL import {check.target}: {check.detail}{blame}")
        return "\n".join(out) + "\n"


def quick_python(course: Course, version: Optional[str] = None) -> Path:
    """The interpreter of the cached venv (runner/depvenvs.py) the quick check imports with: only the
    course's dependencies, lock-constrained, for `version` or the newest Python of the matrix."""
    from ..package.locks import constraints_for
    from ..runner.depvenvs import dependency_venv, pick_interpreter

    interpreter, version = pick_interpreter(course, version)
    lock = constraints_for(course, version, False)
    return dependency_venv(course, interpreter, lock.pins if lock else None, purpose="quick").python


def static_checks(course: Course, modules: Sequence[str]) -> tuple:
    """(error lines, warning count) of validation restricted to `modules`."""
    from ..checks.validate import validate

    report = validate(course)
    wanted = set(modules)
    errors, warnings = [], 0
    for finding in report.findings:
        if finding.module not in wanted and finding.module is not None:
            continue
        if finding.severity == "error":
            where = f"{finding.path}:{finding.line}" if finding.line else str(finding.path)
            errors.append(f"{finding.module}: {finding.code} {finding.issue} ({where})")
        else:
            warnings += 1
    return errors, warnings


def quick_check(course: Course, refs: Sequence[str], package_root: Path, python: Optional[str] = None,
                memory_mb: Optional[int] = None) -> QuickResult:
    """Static checks and per-module imports of `refs` and their dependents from the package
    written under `package_root/<package>`."""
    from ..deps.graph import course_graph
    from ..package.export import plan_export
    from ..runner.envs import clean_env
    from ..runner.processes import DEFAULT_MEMORY_MB, run

    began = time.monotonic()
    edges = course_graph(course).edges()
    targets = plan_export(course).module_targets
    plans = [plan_integration(course, ref, edges, targets) for ref in refs]
    affected = [m.key for m in course.modules if any(m.key in p.modules for p in plans)]
    result = QuickResult(plans)
    result.static_errors, result.static_warnings = static_checks(course, affected)
    # the imports in course order, each with the components its module.yaml promises
    checks = []
    for module in course.modules:
        if module.key in affected and module.key in targets:
            checks.append([f"{course.package}.{targets[module.key]}", list(module.components)])
    interpreter = quick_python(course, python)  # no interpreter: a configuration error (exit 2)
    result.python = python or _version_of(interpreter)
    with tempfile.TemporaryDirectory(prefix="tito-quick-") as empty:
        completed = run([interpreter, "-I", "-c", IMPORT_CHECK, str(package_root.resolve()), course.package,
                         json.dumps(checks)], cwd=Path(empty), env=clean_env(), timeout=QUICK_TIMEOUT,
                        memory_mb=memory_mb or DEFAULT_MEMORY_MB)
    package_dir = package_root / course.package
    for line in completed.stdout.splitlines():
        if line.startswith("TITO_CHECK "):
            raw = json.loads(line[len("TITO_CHECK "):])
            check = ImportCheck(raw["target"], raw["ok"], raw["detail"], raw.get("seconds", 0.0))
            if not check.ok:
                check.attribution = attribute_traceback(raw.get("traceback", ""), inside=package_dir)
            result.checks.append(check)
    if len(result.checks) != len(checks) + 1:
        result.problem = ("timed out" if completed.timed_out else
                          f"the import check stopped early: {completed.tail(3).strip()[:300]}")
    result.seconds = round(time.monotonic() - began, 2)
    return result


def _version_of(interpreter: Path) -> str:
    cfg = interpreter.parent.parent / "pyvenv.cfg"
    try:
        for line in cfg.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version_info", "version"):
                return ".".join(value.strip().split(".")[:2])
    except OSError:
        pass
    return "?"


def quick_on_temporary_export(course: Course, ref: str, python: Optional[str] = None) -> QuickResult:
    """`tinytorch-verifier package test --quick --module X`: the export check, on an export outside the course."""
    from ..package.export import plan_export, write_package

    with tempfile.TemporaryDirectory(prefix="tito-quick-export-") as work:
        write_package(plan_export(course), Path(work))
        return quick_check(course, [ref], Path(work), python)
