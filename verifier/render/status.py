"""The Package Status Report: one screen (ready YES/NO, what blocks, which module to fix), and
every report file of a verify run written together under reports/.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from rich.console import Console
from rich.table import Table

from ..errors import VerifierError
from ..pipeline.gate import Decision, decide
from ..pipeline.triage import Tier, Triage, triage
from ..results import VerifyResult
from .formats import (
    METADATA_SHOWN,
    MODULE_COLUMNS,
    detail_sections,
    first_screen,
    module_table_rows,
    render_html,
    render_junit,
    render_markdown,
    summary_rows,
    verdict_row,
)
from .reportfiles import ReportFile, ReportFileError, check_same_release, read_report, run_key
from .terminal import STYLE, print_summary, write_atomic

REPORT_FILES = {"json": "verify.json", "markdown": "status.md", "junit": "junit.xml", "html": "report.html"}


def render(result: VerifyResult, fmt: str) -> str:
    decision = decide(result)
    if fmt == "json":
        data = result.to_json()
        data["ready"] = decision.ready
        data["verdict"] = decision.verdict
        data["blockers"] = [b.describe() for b in decision.blockers]
        return json.dumps(data, indent=2, default=str) + "\n"
    if fmt == "markdown":
        return render_markdown(result, decision)
    if fmt == "junit":
        return render_junit(result)
    if fmt == "html":
        return render_html(result, decision)
    raise VerifierError(f"unknown report format {fmt!r}", hint="use markdown, json, junit or html")


def write_reports(result: VerifyResult, reports_dir: Path) -> Tuple[List[Path], Decision]:
    """Every format, each written atomically; the Markdown also to $GITHUB_STEP_SUMMARY when set."""
    paths = []
    for fmt, name in REPORT_FILES.items():
        path = reports_dir / name
        write_atomic(path, render(result, fmt))
        paths.append(path)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(render(result, "markdown"))
    return paths, decide(result)


def load_result(reports_dir: Path) -> VerifyResult:
    """The verify.json of a reports folder, checked (reportfiles.read_report)."""
    return read_report(reports_dir / REPORT_FILES["json"]).result


def print_status(result: VerifyResult, decision: Decision, console: Console) -> None:
    """The first screen (verdict per Python, root causes, next step), the module × check table, the
    Python × stage table, then every blocker by cause in the order to fix them; the verdict last."""
    tri = triage(result, decision)
    for line in first_screen(result, decision, tri):
        console.print(line, markup=False, highlight=False)
    if tri.modules:
        table = Table(title="Modules (course order)")
        for column in MODULE_COLUMNS:
            table.add_column(column)
        for row in module_table_rows(tri):
            style = {"breaks students": "bold red", "install-breaking": "red"}.get(row[1], "")
            table.add_row(*[f"[{style}]{cell}[/]" if style and i < 2 else cell for i, cell in enumerate(row)])
        console.print(table)
    print_summary(result, console, failures_list=False)
    table = Table(title="TinyTorch Package Status Report", show_header=False)
    table.add_column("check")
    table.add_column("result")
    for name, value in summary_rows(result, decision):
        all_of = value.count("/") == 1 and len(set(value.split("/"))) == 1  # "3/3"
        good = value in ("YES", "PASS", "SUCCESS") or value.startswith("PASS (") or all_of
        table.add_row(name, f"[{'green' if good else 'bold red'}]{value}[/]")
    for python in result.pythons:
        table.add_row(f"Python {python.version}", f"[{STYLE[python.status]}]{python.status}[/]"
                      + (f"  numpy {python.numpy_version}" if python.numpy_version else ""))
    console.print(table)
    for line in detail_lines(tri):
        console.print(line, markup=False, highlight=False)
    label, value = verdict_row(decision)
    if decision.partial:
        console.print(f"  partial run: {decision.partial} — run the full `tinytorch-verifier package verify` for a "
                      "release verdict",
                      markup=False)
    console.print(f"{label}: [{'bold green' if decision.passed else 'bold red'}]{value}[/]   "
                  f"(verify took {result.seconds:.0f} s)")


def detail_lines(tri: Triage) -> List[str]:
    """Every blocker under its cause, in the order to fix them; the metadata long tail as one line per
    module and code, cut after METADATA_SHOWN causes with a pointer to the full list."""
    out: List[str] = []
    for tier, causes in detail_sections(tri):
        total = sum(c.count for c in causes)
        out.append(f"{tier.title} — {total} blocker{'s' if total > 1 else ''}, {len(causes)} "
                   f"cause{'s' if len(causes) > 1 else ''}:")
        if tier == Tier.METADATA:
            for cause in causes[:METADATA_SHOWN]:
                out.append(f"  {cause.line()}")
            hidden = causes[METADATA_SHOWN:]
            if hidden:
                out.append(f"  … and {sum(c.count for c in hidden)} more metadata findings in "
                           f"{len({c.module for c in hidden})} modules (see reports/status.md, or "
                           "`tinytorch-verifier package validate`)")
            continue
        for cause in causes:
            out.append(f"  {cause.line()}")
            out += [f"    BLOCKING {item}" for item in cause.items]
            out += [f"    {line}" for line in cause.evidence]
    return out


@dataclass
class Aggregate:
    """The merged result of a CI matrix, and what aggregate read and left out to make it."""
    result: VerifyResult
    reports: List[Path]
    skipped: List[Path]      # earlier outputs of aggregate (marked `aggregated`): never merged again


def aggregate(root: Path, output: Optional[Path] = None) -> Aggregate:
    """Merge the verify.json files of a CI matrix (one folder per job) into one result; each
    Python row is labelled with the job folder it came from (e.g. its OS). Every file is checked
    first (reportfiles.py): one unreadable report, two courses or wheels, or one Python twice for
    the same platform refuses the merge, naming the files. Earlier aggregate outputs (marked, or
    the `output` file about to be rewritten) are skipped, so a second run merges the same rows."""
    files = sorted(root.rglob(REPORT_FILES["json"]))
    own = output.resolve() if output is not None else None
    skipped = [path for path in files if own is not None and path.resolve() == own]
    reports: List[ReportFile] = []
    for path in files:
        if path in skipped:
            continue
        report = read_report(path)
        if report.result.aggregated:
            skipped.append(path)
        else:
            reports.append(report)
    if not reports:
        raise VerifierError("no verify.json of a job found" + (" (only earlier aggregate outputs)" if skipped else ""),
                            root, hint="download the matrix jobs' reports first")
    check_same_release(reports)
    seen: Dict[Tuple[str, str, bool], Path] = {}
    for report in reports:
        label = report.path.relative_to(root).parts[0] if len(report.path.relative_to(root).parts) > 1 else root.name
        for python in report.result.pythons:
            key = run_key(report, python, label)
            if key in seen:
                raise ReportFileError(
                    f"Python {python.version} ({key[1]}{', latest' if key[2] else ''}) is reported twice: "
                    f"in {seen[key]} and in {report.path}", hint="keep one report per Python and platform")
            seen[key] = report.path
    merged: Optional[VerifyResult] = None
    for report in reports:
        part = report.result
        label = report.path.relative_to(root).parts[0] if len(report.path.relative_to(root).parts) > 1 else root.name
        for python in part.pythons:
            python.version = f"{python.version} {label}" + (" latest" if part.latest else "")
        if merged is None:
            merged = part
        else:
            merged.pythons += part.pythons
            merged.seconds = max(merged.seconds, part.seconds)
            merged.interrupted = merged.interrupted or part.interrupted
            merged.stages = [a if a.status == "failed" else b for a, b in zip(merged.stages, part.stages)] \
                if len(merged.stages) == len(part.stages) else merged.stages + part.stages
    assert merged is not None  # reports is not empty
    merged.aggregated = True
    merged.platform = ""
    return Aggregate(merged, [r.path for r in reports], skipped)


def compare_runs(locked: VerifyResult, latest: VerifyResult) -> List[Tuple[str, str, str, str, str]]:
    """Per Python: (version, NumPy locked, NumPy latest, status locked, status latest) — where a
    student installing today would get something other than the reproducible, locked run."""
    rows = []
    newest = {p.version: p for p in latest.pythons}
    for python in locked.pythons:
        other = newest.get(python.version)
        rows.append((python.version, python.numpy_version or "-", (other.numpy_version if other else None) or "-",
                     python.status, other.status if other else "not run"))
    return rows


def compare_folders(locked_dir: Path, latest_dir: Path) -> List[Tuple[str, str, str, str, str]]:
    """compare_runs of two reports folders, each verify.json checked, both of one course and wheel."""
    locked, latest = (read_report(folder / REPORT_FILES["json"]) for folder in (locked_dir, latest_dir))
    check_same_release([locked, latest])
    return compare_runs(locked.result, latest.result)
