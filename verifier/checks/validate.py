"""Static package validation, public entry points: `validate(course, module=None) -> ValidationReport`
and `run_validate` (the library side of `tinytorch-verifier package validate`: output text and exit code).

Reads module sources and metadata only — text and `ast`, never importing or executing student code.
The course is parsed once into a `CheckContext`; every check in `registry.CHECKS` (one module per
finding family: _exports, _imports, _pyversions, _metadata, _paths ...) reads it and yields findings
for its own codes. Findings are then deduplicated (one statement, one finding), waived where the
course says so ([tool.tinytorch] waive) and sorted. See ../findingmodel.py for the catalogue and
docs/validation.md for users.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional, Tuple

from ..course.discovery import Course, load_course
from ..deps.graph import error_output
from ..errors import VerifierError
from . import _waivers
from ._when import locate_when
from .context import CheckContext
from .findings import Finding, dedupe, merge_runs
from .registry import CHECKS
from .report import ValidationReport

FORMATS = ("text", "json")

__all__ = ["FORMATS", "ValidationReport", "run_validate", "validate"]


def validate(course: Course, module: Optional[str] = None) -> ValidationReport:
    """Run every static check on the course (or report only what concerns one module:
    a folder `03_activations`, name `activations` or number `3`). Never raises for problems in
    the course's files: they are findings. Raises CourseError for an unknown module."""
    start = time.perf_counter()
    selected = course.module(module).key if module else None
    ctx = CheckContext(course)
    findings: List[Finding] = []
    for check in CHECKS:
        findings.extend(check.run(ctx))
    findings = locate_when(ctx, merge_runs(dedupe(findings)))
    findings.extend(_waivers.apply(ctx, findings))
    notes: List[str] = []
    if not ctx.graph.has_declared:
        notes.append("no module.yaml declares prerequisites, so there is no declared dependency graph: "
                     "the graph is inferred from the imports of exported code")
    if selected:
        findings = [f for f in findings if f.concerns(selected)]
    order = {m.key: i for i, m in enumerate(course.modules)}
    findings.sort(key=lambda f: (order.get(f.module, len(order)), f.module, f.path or "", f.line or 0, f.code))
    checked = [selected] if selected else [m.key for m in course.modules]
    return ValidationReport(course, findings, checked, notes, ctx.oldest, time.perf_counter() - start, ctx.graph)


def run_validate(course_path: Path, module: Optional[str] = None, fmt: str = "text") -> Tuple[str, int]:
    """`tinytorch-verifier package validate [MODULE] [--format text|json]`: (output, exit code).
    0 = no errors (warnings allowed), 1 = errors found, 2 = usage or configuration error."""
    if fmt not in FORMATS:
        return f"tinytorch-verifier: error: unknown format {fmt!r} (choose from {', '.join(FORMATS)})\n", 2
    try:
        report = validate(load_course(Path(course_path)), module)
    except VerifierError as exc:
        return error_output(exc, fmt), 2
    text = report.render_json() if fmt == "json" else report.render_text()
    return text, 0 if report.ok else 1
