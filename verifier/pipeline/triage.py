"""What to fix first: the gate's blockers ordered by what a student meets, grouped into causes.

Every report (terminal, status.md and the GitHub step summary, report.html, the bundle index) lists
blockers through `triage()`, so they all lead with the same thing:

  1. what a student meets: the package or a module does not import, a promised name is missing, a
     scenario cannot run, a course test fails, an entry point is broken;
  2. install-breaking static findings, and checks that leave the release unverified;
  3. degraded (the installed package silently runs on a fallback);
  4. metadata and policy (the package still works).

Within a tier, causes follow the course order of their module; one line per cause with its count and
its first file:line. A module whose failure takes others down is one cause naming them, and the
scenarios and tests that failed only because of it are listed under it, not as blockers of their own.
Tiers come from typed fields only: the stage's name, the finding's code (its impact in the catalogue)
and the attribution's module, never from message text. Nothing is dropped: every blocker is an item of
exactly one cause.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..findingmodel import COURSE, ERROR, Finding, Impact
from ..results import FAILED, NOT_RUN, PASSED, ImportFailure, VerifyResult
from .gate import Blocker, Decision

# per-Python stages that are not scenarios (the rest of a Python's stages are the student scenarios)
NOT_SCENARIOS = frozenset({"venv", "install", "module-imports", "entry-points", "course-tests"})
# stages whose failure a student meets when installing or using the package
STUDENT_COURSE_STAGES = frozenset({"build", "editable"})
STUDENT_PYTHON_STAGES = frozenset({"install", "module-imports", "entry-points", "course-tests"})


class Tier(IntEnum):
    STUDENT = 0
    BREAKING = 1
    DEGRADED = 2
    METADATA = 3

    @property
    def title(self) -> str:
        return TIER_TITLES[self]


TIER_TITLES = {Tier.STUDENT: "breaks students (install, import, scenarios, course tests)",
               Tier.BREAKING: "install-breaking findings and unverified checks",
               Tier.DEGRADED: "degraded (the installed package silently runs on a fallback)",
               Tier.METADATA: "metadata and policy (the package still works)"}
IMPACT_TIER = {Impact.INSTALL_BREAKING: Tier.BREAKING, Impact.DEGRADED: Tier.DEGRADED, Impact.POLICY: Tier.METADATA}


@dataclass
class Cause:
    """One cause: everything that fails because of it, as one line."""
    tier: Tier
    module: Optional[str]            # course module key, "course", or None (the package as a whole)
    headline: str                    # what is wrong, one line
    where: str = ""                  # its first file:line
    fix: str = ""
    pythons: List[str] = field(default_factory=list)
    takes_down: List[str] = field(default_factory=list)   # modules that fail to import because of it
    dependents: List[str] = field(default_factory=list)   # scenarios and course tests that failed because of it
    items: List[str] = field(default_factory=list)        # every blocker of the gate behind it, in full
    evidence: List[str] = field(default_factory=list)     # each failed import behind it ([Python] module: error)
    code: str = ""                   # the finding code when the cause is a finding
    stage: str = ""                  # the stage whose failure it is, when it is no finding

    @property
    def count(self) -> int:
        return max(1, len(self.items))

    def line(self) -> str:
        """The one-line form: module, what, where, how many, what it takes down."""
        parts = [self.module_label, self.headline]
        if self.where:
            parts.append(f"at {self.where}")
        line = " — ".join(parts[:2]) + (f" ({parts[2]})" if len(parts) > 2 else "")
        if self.code and self.count > 1:
            line += f" ×{self.count}"
        if self.pythons:
            line += f" [Python {', '.join(self.pythons)}]"
        if self.takes_down or self.dependents:
            line += "; " + self.consequences()
        return line

    def consequences(self) -> str:
        """What fails because of it: the modules that do not import, the scenarios and tests."""
        what = []
        if self.takes_down:
            n = len(self.takes_down)
            what.append(f"{n} module{'s' if n > 1 else ''} fail{'' if n > 1 else 's'} to import alone: "
                        f"{', '.join(self.takes_down)}")
        if self.dependents:
            what.append(self.dependents_text())
        return "; ".join(what)

    def dependents_text(self) -> str:
        scenarios = [d for d in self.dependents if not d.startswith("course tests")]
        tests = [d for d in self.dependents if d.startswith("course tests")]
        what = []
        if scenarios:
            what.append(f"{len(scenarios)} scenario{'s' if len(scenarios) > 1 else ''} ({', '.join(scenarios)})")
        what += tests
        return " and ".join(what) + " failed because of it"

    @property
    def module_label(self) -> str:
        if self.module is None:
            return "package"
        return "course" if self.module == COURSE else self.module


@dataclass
class PythonAnswer:
    version: str
    usable: Optional[bool]           # None: not verified (no interpreter) or not run
    reason: str


@dataclass
class ModuleRow:
    module: str
    validate: str                    # worst impact of its findings, with counts
    exports: str
    imports_alone: str
    scenarios: str
    course_tests: str
    verdict: str                     # "ok", "breaks students", "install-breaking", "degraded", "metadata only"


@dataclass
class Triage:
    causes: List[Cause]
    pythons: List[PythonAnswer]
    modules: List[ModuleRow]
    next_step: str

    def tier(self, tier: Tier) -> List[Cause]:
        return [c for c in self.causes if c.tier == tier]

    @property
    def root_causes(self) -> List[Cause]:
        """What to fix first: what students meet, then install-breaking findings."""
        return [c for c in self.causes if c.tier <= Tier.BREAKING]

    @property
    def validated(self) -> Tuple[int, int]:
        """(modules with no install-breaking or student-facing failure, modules)."""
        return sum(1 for row in self.modules if row.verdict in ("ok", "degraded", "metadata only")), \
            len(self.modules)


def course_order(result: VerifyResult) -> List[str]:
    """Module keys in course order: NN_name sorts by number."""
    keys = set(result.graph)
    keys |= {str(m.get("module")) for m in result.code_metrics if m.get("module")}
    keys |= {f.module for f in result.findings if f.module and f.module != COURSE}
    return sorted(keys)


def _rank(order: Dict[str, int], module: Optional[str]) -> int:
    if module is None:
        return len(order) + 2          # the package as a whole: after the modules it names
    if module == COURSE:
        return len(order) + 1
    return order.get(module, len(order))


def _where(finding: Finding) -> str:
    return f"{finding.path}:{finding.line}" if finding.path and finding.line else finding.path or ""


def _finding_headline(finding: Finding) -> str:
    statements = [loc.what for loc in finding.locations if loc.what]
    return f"{finding.code} {finding.title}" + (f": `{statements[0]}`" if statements else "")


def _import_failures(result: VerifyResult) -> List[Tuple[str, ImportFailure]]:
    """(Python, typed import failure) for every module that failed to import alone."""
    out = []
    for python in result.pythons:
        stage = python.stage("module-imports")
        if stage is not None and stage.status == FAILED:
            out += [(python.version, rec) for rec in stage.import_failures]
    return out


def _add_python(cause: Cause, python: Optional[str]) -> None:
    for version in (python or "").split(", "):
        if version and version not in cause.pythons:
            cause.pythons.append(version)


def triage(result: VerifyResult, decision: Decision) -> Triage:
    order_list = course_order(result)
    order = {key: i for i, key in enumerate(order_list)}
    causes: Dict[Tuple[Any, ...], Cause] = {}

    def cause(key: Tuple[Any, ...], **fields: Any) -> Cause:
        if key not in causes:
            causes[key] = Cause(**fields)
        return causes[key]

    # the static findings that explain a runtime import failure: one statement, one cause
    breaking_at: Dict[Tuple[str, int], Finding] = {}
    for static in result.findings:
        if static.waived is not None or static.impact is not Impact.INSTALL_BREAKING:
            continue
        for loc in static.locations:
            if loc.path and loc.line:
                breaking_at.setdefault((loc.path, loc.line), static)

    # 1. modules that fail to import alone, grouped by the statement (or the module) that raised
    failed_module_cause: Dict[str, Cause] = {}   # course module whose import failed -> its cause
    absorbed_findings: set = set()
    for version, rec in _import_failures(result):
        place = (rec.path, rec.line) if rec.path and rec.line else None
        finding = breaking_at.get(place) if place else None
        if finding is not None:
            key: Tuple[Any, ...] = ("finding", finding.code, finding.path, finding.line)
            c = cause(key, tier=Tier.STUDENT, module=finding.module, code=finding.code,
                      headline=_finding_headline(finding), where=_where(finding), fix=finding.fix)
            absorbed_findings.add(id(finding))
        else:
            blamed = rec.blamed or rec.module
            what = "an import-time side effect" if rec.side_effect else "its import raises"
            c = cause(("import", blamed), tier=Tier.STUDENT, module=blamed,
                      headline=f"{what}: {_clip(rec.error, 100)}",
                      where=f"{rec.path}:{rec.line}" if rec.line else rec.path or "",
                      fix=f"fix it, then re-run `tinytorch-verifier package test --module {blamed}`" if blamed else "")
        _add_python(c, version)
        own = rec.module or rec.target
        if own and own not in c.takes_down:
            c.takes_down.append(own)
        c.evidence.append(f"[{version}] {rec.target}: {rec.error}"
                          + (f" — {rec.blamed} ({rec.path}:{rec.line})" if rec.blamed else ""))
        if own:
            failed_module_cause.setdefault(own, c)
        if rec.blamed:
            failed_module_cause.setdefault(rec.blamed, c)
    for c in causes.values():
        c.takes_down.sort(key=lambda m: _rank(order, m))

    def import_cause(module: Optional[str]) -> Optional[Cause]:
        return failed_module_cause.get(module) if module else None

    # 2. every blocker of the gate, each into exactly one cause
    for blocker in decision.blockers:
        _place(blocker, cause, import_cause, absorbed_findings)

    ordered = sorted(causes.values(), key=lambda c: (c.tier, _rank(order, c.module), c.module or "", c.headline))
    for c in ordered:
        c.takes_down.sort(key=lambda m: _rank(order, m))
    answers = _answers(result, ordered)
    rows = _module_rows(result, order_list, ordered)
    return Triage(ordered, answers, rows, _next_step(result, decision, ordered))


def _place(blocker: Blocker, cause, import_cause, absorbed_findings: set) -> None:
    """Put one blocker under its cause (creating the cause when it is the first of it)."""
    text = blocker.describe()
    key: Tuple[Any, ...]
    if blocker.finding is not None:
        finding = blocker.finding
        key = ("finding", finding.code, finding.path, finding.line)
        if id(finding) in absorbed_findings:
            c = cause(key, tier=Tier.STUDENT, module=finding.module, headline="")
        else:
            tier = IMPACT_TIER[finding.impact]
            if tier == Tier.METADATA:   # one line per module and code: `01_setup TT118 ×4`
                key = ("code", finding.module, finding.code)
                c = cause(key, tier=tier, module=finding.module, code=finding.code,
                          headline=_finding_headline(finding).split(": `")[0], where=_where(finding),
                          fix=finding.fix)
            else:
                c = cause(key, tier=tier, module=finding.module, code=finding.code,
                          headline=_finding_headline(finding), where=_where(finding), fix=finding.fix)
        _add_python(c, blocker.python)
        c.items.append(text)
        return
    stage = blocker.stage
    student = stage in STUDENT_COURSE_STAGES or (blocker.python is not None and stage != "venv"
                                                  and stage != "interpreter")
    if stage == "module-imports":
        found = import_cause(blocker.module)
        if found is not None:           # the per-module import failures are its causes
            found.items.append(text)
            return
    if student:
        found = import_cause(blocker.module)
        if found is not None and stage != "module-imports":   # it failed because that module does not import
            label = _dependent_label(stage, text)
            if label not in found.dependents:
                found.dependents.append(label)
            _add_python(found, blocker.python)
            found.items.append(text)
            return
        key = ("stage", stage, blocker.module) if blocker.module else ("stage", stage)
        headline = _stage_headline(stage, blocker)
        c = cause(key, tier=Tier.STUDENT, module=blocker.module, headline=headline, fix=blocker.fix, stage=stage)
    else:
        c = cause(("other", stage, blocker.category, blocker.module), tier=Tier.BREAKING, module=blocker.module,
                  headline=f"{blocker.category}: {_clip(blocker.message, 140)}", fix=blocker.fix, stage=stage)
    _add_python(c, blocker.python)
    c.items.append(text)


def _dependent_label(stage: str, text: str) -> str:
    return "course tests" if stage == "course-tests" else ("editable install" if stage == "editable" else stage)


def _stage_headline(stage: str, blocker: Blocker) -> str:
    what = {"install": "the wheel does not install", "module-imports": "modules fail to import alone",
            "entry-points": "an entry point is broken", "course-tests": "course tests fail",
            "build": "the package cannot be built", "editable": "the editable install fails"}.get(
        stage, f"scenario {stage} fails")
    detail = blocker.message.split(": ", 1)[1] if blocker.message.startswith(f"{stage}: ") else blocker.message
    return f"{what}: {_clip(detail, 110)}"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _answers(result: VerifyResult, causes: Sequence[Cause]) -> List[PythonAnswer]:
    """Per Python: can a student install and use the package there, and the one reason why not."""
    answers = []
    for python in result.pythons:
        if python.missing is not None:
            answers.append(PythonAnswer(python.version, None, f"not verified: {_clip(python.missing, 90)}"))
            continue
        if python.status == PASSED:
            answers.append(PythonAnswer(python.version, True, "installs, every module imports, scenarios and "
                                        "course tests pass"))
            continue
        if python.status == NOT_RUN:
            first = next((c for c in causes if c.tier <= Tier.BREAKING and not c.pythons), None)
            answers.append(PythonAnswer(python.version, None, "not run" + (f": {first.module_label} — "
                                                                            f"{_clip(first.headline, 80)}"
                                                                            if first else "")))
            continue
        answers.append(PythonAnswer(python.version, False, _python_reason(python)))
    return answers


def _python_reason(python) -> str:
    """The first thing a student meets on this Python, from the failed stages in the order a student meets them."""
    failed = [s for s in python.stages if s.status == FAILED]
    by_name = {s.name: s for s in failed}
    for name in ("venv", "install"):
        if name in by_name:
            return f"{'the venv cannot be made' if name == 'venv' else 'the wheel does not install'}: " \
                   f"{_clip(by_name[name].detail, 80)}"
    imports = by_name.get("module-imports")
    if imports is not None and imports.figures.get("modules"):
        n, total = imports.figures.get("failed", 0), imports.figures.get("modules")
        effects = len(imports.figures.get("side_effects") or {})
        if n:
            return f"{n} of {total} modules fail to import alone" + \
                (f" (and {effects} with side effects)" if effects else "")
        return f"{effects} module(s) have import-time side effects"
    scenarios = [s.name for s in failed if s.name not in NOT_SCENARIOS]
    if scenarios:
        return f"{len(scenarios)} scenario{'s' if len(scenarios) > 1 else ''} fail: {', '.join(scenarios)}"
    if "entry-points" in by_name:
        return "an entry point is broken"
    if "course-tests" in by_name:
        return f"course tests fail: {_clip(by_name['course-tests'].detail, 80)}"
    return f"{failed[0].name} failed" if failed else "failed"


def _module_rows(result: VerifyResult, modules: Sequence[str], causes: Sequence[Cause]) -> List[ModuleRow]:
    rows = []
    import_fail: Dict[str, Dict[str, str]] = {}     # module -> python -> "fails" / "fails via X"
    for version, rec in _import_failures(result):
        own, blamed = rec.module, rec.blamed
        if own:
            import_fail.setdefault(own, {})[version] = "fails" if not blamed or blamed == own else \
                f"fails via {blamed}"
    ran_imports = [p.version for p in result.pythons if (s := p.stage("module-imports")) is not None
                   and s.status in (PASSED, FAILED)]
    scenarios_ran = any(s.name not in NOT_SCENARIOS and s.status in (PASSED, FAILED)
                        for p in result.pythons for s in p.stages)
    tests_ran = any((s := p.stage("course-tests")) is not None and s.status in (PASSED, FAILED)
                    for p in result.pythons)
    export = next((s for s in result.stages if s.name == "export"), None)
    # failures no module is blamed for: a module without a failure of its own is then not known to pass
    loose = [c for c in causes if c.tier == Tier.STUDENT and c.module is None]
    loose_scenarios = sum(1 for c in loose if c.stage and c.stage not in NOT_SCENARIOS | STUDENT_COURSE_STAGES)
    loose_tests = any(c.stage == "course-tests" for c in loose)
    for key in modules:
        findings = [f for f in result.findings if f.module == key and f.waived is None]
        impacts = [f.impact for f in findings]
        counts = [(impact, impacts.count(impact)) for impact in Impact if impact in impacts]
        validate = ", ".join(f"{impact.value} {n}" for impact, n in counts) or "ok"
        export_errors = [f for f in findings if f.code.startswith(("TT0", "TT1")) and f.severity == ERROR]
        if export is not None and export.status == FAILED and export.attribution is not None \
                and export.attribution.module == key:
            exports = "not exported"
        else:
            exports = f"{len(export_errors)} finding{'s' if len(export_errors) > 1 else ''}" if export_errors else "ok"
        fails = import_fail.get(key, {})
        if fails:
            imports = "; ".join(f"{v} ({p})" if len(ran_imports) > 1 else v for p, v in fails.items())
        else:
            imports = "ok" if ran_imports else "-"
        mine = [c for c in causes if c.tier == Tier.STUDENT and (c.module == key or key in c.takes_down)]
        failing_scenarios = sorted({d for c in mine for d in c.dependents if d not in ("course tests",
                                                                                      "editable install")}
                                   | {c.stage for c in mine if c.module == key and c.stage
                                      and c.stage not in NOT_SCENARIOS | STUDENT_COURSE_STAGES})
        scenarios = ", ".join(failing_scenarios) + " fail" if failing_scenarios else \
            (f"? ({loose_scenarios} fail unattributed)" if loose_scenarios else "ok" if scenarios_ran else "-")
        tests_fail = any("course tests" in c.dependents or c.stage == "course-tests" for c in mine)
        tests = "fail" if tests_fail else ("? (fail unattributed)" if loose_tests else "ok" if tests_ran else "-")
        touched = [c.tier for c in causes if c.module == key or key in c.takes_down]
        worst = min(touched, default=None)
        verdict = {Tier.STUDENT: "breaks students", Tier.BREAKING: "install-breaking",
                   Tier.DEGRADED: "degraded", Tier.METADATA: "metadata only", None: "ok"}[worst]
        rows.append(ModuleRow(key, validate, exports, imports, scenarios, tests, verdict))
    return rows


def _next_step(result: VerifyResult, decision: Decision, causes: Sequence[Cause]) -> str:
    first = next((c for c in causes if c.tier <= Tier.BREAKING), None)
    metadata = sum(c.count for c in causes if c.tier == Tier.METADATA)
    if not decision.blockers:
        if decision.partial:
            return "run the full `tinytorch-verifier package verify` for a release verdict"
        return "hand off: `tinytorch-verifier package report --bundle DIR`"
    if first is not None:
        where = f" ({first.where})" if first.where else ""
        if first.module and first.module != COURSE:
            step = f"fix {first.module}{where}, then `tinytorch-verifier package test --module {first.module}`"
        else:
            step = f"fix {first.module_label}{where}: {_clip(first.fix or first.headline, 90)}"
        step += "; then `tinytorch-verifier verify` again"
    else:
        step = (f"`tinytorch-verifier package validate` lists the {metadata} metadata findings with their fixes; "
                "then `tinytorch-verifier verify`")
    return step
