"""The release gate: from a verify result to READY or BLOCKED, with the reasons and modules to fix.

Blocking, per the course's release rules: a scenario or course test fails; a circular
dependency or an export conflict; the package cannot be built, installed or imported (a module
that fails to import alone, or whose import writes files or prints); an entry point does not
resolve or its script crashes on --help; the course tests import a package other than the
installed wheel; a NumPy (third-party) name or keyword the package uses is missing from the version a
Python of the matrix installs (dependency-api); a dependency's marker leaves a Python of the matrix
without it while the package imports it at load (TT223); the course tests patch the package or a
dependency it uses (TT260); the
pipeline breaks or is interrupted; a Python of the matrix is not verified; a breaking API
change that the release notes do not acknowledge. Everything else is approved — except that a
partial run (a subset of Pythons, scenarios or tests) is no release verdict: it says PASS or FAIL.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from ..findingmodel import Finding
from ..results import FAILED, VerifyResult

# the gate decides by finding code (typed, from the catalogue in findingmodel.py), never by message text
CYCLE_CODES = frozenset({"TT204"})
CONFLICT_CODES = frozenset({"TT112", "TT114"})
MATRIX_CODES = frozenset({"TT235"})   # a Python dropped from the matrix (classifiers vs requires-python)
MARKER_CODES = frozenset({"TT223"})   # a dependency's marker leaves a Python of the matrix without it
TEST_PATCH_CODES = frozenset({"TT260"})  # the course tests patch the package or a dependency it uses


@dataclass
class Blocker:
    category: str               # "scenario failed", "Python not verified", ...
    message: str
    module: Optional[str] = None
    python: Optional[str] = None
    fix: str = ""
    # typed origin, for ordering the reports (pipeline/triage.py): the finding's code or the stage's name
    code: str = ""
    stage: str = ""
    finding: Optional[Finding] = None

    def describe(self) -> str:
        where = " ".join(p for p in (f"[{self.python}]" if self.python else "", self.module or "") if p)
        fix = f" — fix: {self.fix}" if self.fix else ""
        return f"{self.category}: {where + ': ' if where else ''}{self.message}{fix}"


@dataclass
class Decision:
    ready: bool
    blockers: List[Blocker] = field(default_factory=list)
    partial: str = ""          # why the run is not a release verdict ("" for a full run)

    @property
    def passed(self) -> bool:
        """Everything that ran passed (for a partial run: the check passed, no release verdict)."""
        return not self.blockers

    @property
    def verdict(self) -> str:
        """`YES` / `NO` for a full run; `PASS (partial: not a release verdict)` / `FAIL` for a partial one."""
        if self.partial:
            return "PASS (partial: not a release verdict)" if self.passed else "FAIL"
        return "YES" if self.ready else "NO"

    @property
    def modules_to_fix(self) -> List[str]:
        return sorted({b.module for b in self.blockers if b.module})


def _finding_category(finding: Finding) -> str:
    code = finding.code
    if code in CYCLE_CODES:
        return "circular dependency"
    if code in CONFLICT_CODES:
        return "export conflict"
    if code in MATRIX_CODES:
        return "Python dropped from the matrix"
    if code in MARKER_CODES:
        return "dependency not installed on a Python of the matrix"
    if code in TEST_PATCH_CODES:
        return "course tests patch what they test"
    return "validation error"


def decide(result: VerifyResult) -> Decision:
    blockers: List[Blocker] = []
    for finding in result.findings:
        if finding.is_error:  # an error no waiver covers (a waived one is shown with its reason)
            where = f"{finding.path}:{finding.line}" if finding.line else finding.path
            pythons = ", ".join(finding.pythons) or None
            blockers.append(Blocker(_finding_category(finding), f"{where}: {finding.issue}", finding.module,
                                    python=pythons, fix=finding.fix, code=finding.code, finding=finding))
    for stage in result.stages:
        if stage.status == FAILED and stage.name != "validate":
            category = {"api": "breaking API change", "editable": "editable install failed",
                        "baseline-api": "breaking API change since the baseline",
                        "baseline-speed": "slower than the baseline",
                        "baseline-behaviour": "behaviour changed since the baseline",
                        "canary": "deprecated on the newest Python or NumPy"}.get(stage.name, "pipeline broken")
            where = f" ({stage.attribution.describe()})" if stage.attribution else ""
            blockers.append(Blocker(category, f"{stage.name}: {stage.detail}{where}",
                                    stage.attribution.module if stage.attribution else None, fix=stage.fix,
                                    stage=stage.name))
    validate = next((s for s in result.stages if s.name == "validate"), None)
    if validate is not None and validate.status == FAILED and not any(f.is_error for f in result.findings):
        blockers.append(Blocker("pipeline broken", f"validate: {validate.detail}", stage="validate"))
    if result.stages and not result.pythons and all(s.status != FAILED for s in result.stages):
        blockers.append(Blocker("pipeline broken", "no Python was verified"))
    for python in result.pythons:
        if python.missing:
            blockers.append(Blocker("Python not verified", python.missing, python=python.version,
                                    fix=f"install Python {python.version} (e.g. `pyenv install {python.version}`)",
                                    stage="interpreter"))
            continue
        for stage in python.stages:
            if stage.status != FAILED:
                continue
            category = {"venv": "pipeline broken", "install": "package cannot be installed",
                        "imports": "package cannot be imported", "module-imports": "package cannot be imported",
                        "entry-points": "entry point broken", "course-tests": "integration tests failed",
                        "dependency-api": "dependency API missing on this Python"
                        }.get(stage.name, "scenario failed")
            blame = stage.attribution
            module = blame.module if blame else None
            where = f" ({blame.describe()})" if blame else ""
            if blame and blame.how == "changed":
                fix = stage.fix or (f"compare {blame.evidence} with {blame.since} (changed since and executed by the "
                                    f"failing test; `git diff {blame.since} -- {blame.path}`), then re-run "
                                    f"`tinytorch-verifier package test --module {blame.module}`")
            elif blame and blame.how == "spectrum":
                fix = stage.fix or (f"look first at {blame.path}:{blame.line} ({blame.function}; suspected from "
                                    f"coverage of failing vs passing tests), then the next suspects; re-run "
                                    f"`tinytorch-verifier package test --module {blame.module}`")
            elif blame and blame.how == "inferred":
                fix = stage.fix or (f"look first at {blame.path} (suspected: inferred, no traceback), then the "
                                    f"other suspects; re-run `tinytorch-verifier package test --module {blame.module}`")
            else:
                fix = stage.fix or (f"fix {blame.path}{f':{blame.line}' if blame.line else ''}, then re-run "
                                    f"`tinytorch-verifier package test --module {blame.module}`" if blame else "")
            blockers.append(Blocker(category, f"{stage.name}: {stage.detail}{where}", module, python.version, fix,
                                    stage=stage.name))
    if result.interrupted:
        blockers.append(Blocker("pipeline broken", "the run was interrupted before every stage ran"))
    if not result.pythons and not blockers:
        blockers.append(Blocker("pipeline broken", "no Python was verified"))
    # a partial run (a subset of Pythons, scenarios or tests) is never a release verdict, but its
    # partiality alone does not block: it passes or fails on what it ran
    return Decision(not blockers and not result.partial, blockers, result.partial)
