"""What an instructor reads after `tinytorch-verifier cohort verify`: gradebook.csv, cohort.json, cohort.html
(students × stages, which module breaks how many students, clusters of identical failures) and the
terminal lines and summary.

Every string here may come from a student's tree (ids, error messages), so all of it is escaped.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Dict, List, Tuple

from rich.console import Console
from rich.table import Table

from ..atomic import write_atomic
from ..pipeline.cohort import GRADEBOOK_COLUMNS, VERIFIED, CohortResult, StudentRow

STATUS_CLASS = {"passed": "ok", "failed": "bad", "not run": "skip"}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; } td, th { border: 1px solid #ccc; padding: 3px 8px; }
th { background: #f4f4f4; font-size: 90%; } .ok { background: #d9f2d9; } .bad { background: #f8d0d0; }
.skip { color: #888; } .bar { background: #c0392b; height: 1em; display: inline-block; }
.warn { background: #fff3cd; padding: .5em 1em; border: 1px solid #e0c36a; } code { font-size: 90%; }
"""


def gradebook_csv(result: CohortResult) -> str:
    out = io.StringIO()
    if result.sandbox_warning:  # the instructor sees it first, in the file as on the terminal
        out.write(f"# WARNING: {result.sandbox_warning}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(GRADEBOOK_COLUMNS)
    for row in result.rows:
        writer.writerow(row.gradebook_row())
    return out.getvalue()


def write_gradebook(result: CohortResult, reports: Path) -> List[Path]:
    """gradebook.csv and cohort.json, each written atomically."""
    paths = [reports / "gradebook.csv", reports / "cohort.json"]
    write_atomic(paths[0], gradebook_csv(result))
    write_atomic(paths[1], json.dumps(result.to_json(), indent=2) + "\n")
    return paths


@dataclass
class Cluster:
    signature: str
    module: str
    example: str
    students: List[str]


def clusters(result: CohortResult) -> List[Cluster]:
    """Identical failures across students, the most frequent first."""
    found: Dict[str, Cluster] = {}
    for row in result.rows:
        for failure in row.failures:
            cluster = found.setdefault(failure.signature, Cluster(failure.signature, failure.module,
                                                                  failure.message, []))
            cluster.students.append(row.student)
    return sorted(found.values(), key=lambda c: (-len(c.students), c.signature))


def module_histogram(result: CohortResult) -> List[Tuple[str, int]]:
    """Which module breaks how many students, the most first."""
    counts: Dict[str, int] = {}
    for row in result.rows:
        for module in row.modules_to_fix:
            counts[module] = counts.get(module, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _stage_columns(result: CohortResult) -> List[str]:
    """Course-wide stages first, then each Python's stages in the order they ran."""
    seen: List[str] = []
    for row in result.rows:
        for key in row.stages:
            if key not in seen:
                seen.append(key)
    return sorted(seen, key=lambda k: (not k.startswith("course:"), k.split(":", 1)[0]))


def _student_cells(row: StudentRow, columns: List[str]) -> str:
    verdict_class = "ok" if row.verdict == VERIFIED else "bad"
    cells = [f"<td>{escape(row.student)}</td><td class='{verdict_class}'>{escape(row.verdict)}"
             f"{' (reused)' if row.reused else ''}</td><td>{escape(', '.join(row.modules_to_fix))}</td>"]
    for column in columns:
        status = row.stages.get(column, "")
        cells.append(f"<td class='{STATUS_CLASS.get(status, 'skip')}'>{escape(status or '—')}</td>")
    cells.append(f"<td>{row.seconds:.0f}</td><td>{escape(row.note)}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def cohort_html(result: CohortResult) -> str:
    columns = _stage_columns(result)
    passed = sum(r.verdict == VERIFIED for r in result.rows)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Cohort verification</title>",
             f"<style>{STYLE}</style></head><body><h1>Cohort verification</h1>",
             f"<p>{passed} of {len(result.rows)} students verified; {result.seconds:.0f} s with "
             f"{result.jobs} student(s) at once{'; <b>interrupted</b> (partial)' if result.interrupted else ''}.</p>"]
    if result.sandbox_warning:
        parts.append(f"<p class='warn'>WARNING: {escape(result.sandbox_warning)}</p>")
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    parts.append(f"<h2>Students × stages</h2><table><tr><th>student</th><th>verdict</th><th>modules to fix</th>"
                 f"{head}<th>s</th><th>note</th></tr>")
    parts += [_student_cells(row, columns) for row in result.rows]
    parts.append("</table><h2>Which module breaks how many students</h2>")
    histogram = module_histogram(result)
    if histogram:
        top = histogram[0][1]
        parts.append("<table><tr><th>module</th><th>students</th><th></th></tr>")
        parts += [f"<tr><td>{escape(m)}</td><td>{n}</td><td><span class='bar' style='width:{200 * n // top}px'>"
                  f"</span></td></tr>" for m, n in histogram]
        parts.append("</table>")
    else:
        parts.append("<p>No module blocks any student.</p>")
    parts.append("<h2>Identical failures</h2>")
    groups = clusters(result)
    if groups:
        parts.append("<table><tr><th>students</th><th>module</th><th>failure</th><th>examples</th></tr>")
        parts += [f"<tr><td>{len(c.students)}</td><td>{escape(c.module)}</td><td><code>{escape(c.example)}"
                  f"</code></td><td>{escape(', '.join(c.students[:5]))}{' …' if len(c.students) > 5 else ''}"
                  f"</td></tr>" for c in groups]
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_cohort_html(result: CohortResult, reports: Path) -> Path:
    path = reports / "cohort.html"
    write_atomic(path, cohort_html(result))
    return path


def student_line(row: StudentRow, done: int, total: int) -> str:
    """One line per student as it finishes (a log or a terminal alike)."""
    fix = f"  fix: {', '.join(row.modules_to_fix)}" if row.modules_to_fix else ""
    note = f"  {row.note}" if row.note else ""
    return f"[{done}/{total}] {row.student:<20} {row.verdict:<13} {row.seconds:6.0f} s" \
           f"{' (reused)' if row.reused else ''}{fix}{note}"


def print_summary(result: CohortResult, console: Console) -> None:
    table = Table(title="Cohort", show_lines=False)
    for name in ("student", "verdict", "modules to fix", "first failing stage", "s"):
        table.add_column(name)
    for row in result.rows:
        table.add_row(row.student, row.verdict, ", ".join(row.modules_to_fix), ", ".join(row.first_failing),
                      f"{row.seconds:.0f}")
    console.print(table)
    for module, count in module_histogram(result)[:5]:
        console.print(f"  {module}: breaks {count} student(s)", markup=False)
    passed = sum(r.verdict == VERIFIED for r in result.rows)
    console.print(f"{passed} of {len(result.rows)} students verified in {result.seconds:.0f} s "
                  f"({result.jobs} at once){' — INTERRUPTED, partial gradebook' if result.interrupted else ''}",
                  markup=False)
    if result.sandbox_warning:
        console.print(f"WARNING: {result.sandbox_warning}", markup=False)
