"""The validation report: findings (deduplicated, sorted, waivers applied), the modules checked, notes,
and its text and JSON renderings."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from ..course.discovery import Course
from ..course.pyversions import DEFAULT_OLDEST, Version, show
from ..deps.graph_model import DependencyGraph
from .findings import ERROR, WARNING, Finding, count, render_json, render_text


@dataclass
class ValidationReport:
    course: Course
    findings: List[Finding]
    modules_checked: List[str]
    notes: List[str] = field(default_factory=list)
    oldest_python: Version = DEFAULT_OLDEST
    elapsed: float = 0.0
    graph: Optional[DependencyGraph] = None

    @property
    def ok(self) -> bool:
        return not any(f.is_error for f in self.findings)

    @property
    def counts(self) -> Dict[str, int]:
        return count(self.findings)

    @property
    def errors(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == ERROR and f.waived is None]

    @property
    def warnings(self) -> List[Finding]:
        return [f for f in self.findings if f.severity == WARNING and f.waived is None]

    @property
    def waived(self) -> List[Finding]:
        return [f for f in self.findings if f.waived is not None]

    def summary(self) -> str:
        counts = self.counts
        checked = f"{len(self.modules_checked)} module{'s' if len(self.modules_checked) != 1 else ''} checked"
        verdict = "passed" if self.ok else "failed"
        waived = f", {len(self.waived)} waived" if self.waived else ""
        return (f"Package validation {verdict}: {checked}, {counts[ERROR]} error(s), {counts[WARNING]} warning(s)"
                f"{waived}")

    def render_text(self) -> str:
        return render_text(self.findings, [m.key for m in self.course.modules], self.summary(), self.notes)

    def render_json(self) -> str:
        payload = {"course": str(self.course.root), "layout": self.course.layout, "package": self.course.package,
                   "location": self.course.location, "package_init": self.course.package_init,
                   "oldest_python": show(self.oldest_python),
                   "modules_checked": self.modules_checked, "ok": self.ok, "notes": self.notes}
        return render_json(payload, self.findings)
