"""The release gate: from a verify result to READY or BLOCKED, with the reasons and modules to fix.

Blocking, per the course's release rules: a scenario or course test fails; a circular
dependency or an export conflict; the package cannot be built, installed or imported (a module
that fails to import alone, or whose import writes files or prints); an entry point does not
resolve or its script crashes on --help; the course tests import a package other than the
installed wheel; the
pipeline breaks or is interrupted; a Python of the matrix is not verified; a breaking API
change that the release notes do not acknowledge. Everything else is approved.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .results import FAILED, VerifyResult

CYCLE_WORDS = ("cycle", "circular")
CONFLICT_WORDS = ("conflict", "two sources", "exported by")


@dataclass
class Blocker:
    category: str               # "scenario failed", "Python not verified", ...
    message: str
    module: Optional[str] = None
    python: Optional[str] = None
    fix: str = ""

    def describe(self) -> str:
        where = " ".join(p for p in (f"[{self.python}]" if self.python else "", self.module or "") if p)
        fix = f" — fix: {self.fix}" if self.fix else ""
        return f"{self.category}: {where + ': ' if where else ''}{self.message}{fix}"


@dataclass
class Decision:
    ready: bool
    blockers: List[Blocker] = field(default_factory=list)

    @property
    def modules_to_fix(self) -> List[str]:
        return sorted({b.module for b in self.blockers if b.module})


def _finding_category(finding: Dict[str, Any]) -> str:
    text = f"{finding.get('code', '')} {finding.get('issue', '')}".lower()
    if any(w in text for w in CYCLE_WORDS):
        return "circular dependency"
    if any(w in text for w in CONFLICT_WORDS):
        return "export conflict"
    return "validation error"


def decide(result: VerifyResult) -> Decision:
    blockers: List[Blocker] = []
    for finding in result.findings:
        if finding.get("severity") == "error":
            where = f"{finding.get('path')}:{finding.get('line')}" if finding.get("line") else finding.get("path")
            blockers.append(Blocker(_finding_category(finding), f"{where}: {finding.get('issue', '')}",
                                    finding.get("module"), fix=str(finding.get("fix", ""))))
    for stage in result.stages:
        if stage.status == FAILED and stage.name != "validate":
            category = "breaking API change" if stage.name == "api" else "pipeline broken"
            blockers.append(Blocker(category, f"{stage.name}: {stage.detail}", fix=stage.fix))
    validate = next((s for s in result.stages if s.name == "validate"), None)
    if validate is not None and validate.status == FAILED and not any(
            f.get("severity") == "error" for f in result.findings):
        blockers.append(Blocker("pipeline broken", f"validate: {validate.detail}"))
    if result.stages and not result.pythons and all(s.status != FAILED for s in result.stages):
        blockers.append(Blocker("pipeline broken", "no Python was verified"))
    for python in result.pythons:
        if python.missing:
            blockers.append(Blocker("Python not verified", python.missing, python=python.version,
                                    fix=f"install Python {python.version} (e.g. `pyenv install {python.version}`)"))
            continue
        for stage in python.stages:
            if stage.status != FAILED:
                continue
            category = {"venv": "pipeline broken", "install": "package cannot be installed",
                        "imports": "package cannot be imported", "module-imports": "package cannot be imported",
                        "entry-points": "entry point broken", "course-tests": "integration tests failed"
                        }.get(stage.name, "scenario failed")
            blame = stage.attribution
            module = blame.module if blame else None
            where = f" ({blame.describe()})" if blame else ""
            fix = stage.fix or (f"fix {blame.path}{f':{blame.line}' if blame.line else ''}, then re-run "
                                f"`tito package test --module {blame.module}`" if blame else "")
            blockers.append(Blocker(category, f"{stage.name}: {stage.detail}{where}", module, python.version, fix))
    if result.interrupted:
        blockers.append(Blocker("pipeline broken", "the run was interrupted before every stage ran"))
    if result.partial:
        blockers.append(Blocker("partial run", result.partial, fix="run the full `nox -s verify` for a release verdict"))
    return Decision(not blockers and bool(result.pythons), blockers)
