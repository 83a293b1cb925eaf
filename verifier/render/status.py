"""The Package Status Report: one screen (ready YES/NO, what blocks, which module to fix), and
every report file of a verify run written together under reports/.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional, Tuple

from rich.console import Console
from rich.table import Table

from ..errors import VerifierError
from ..pipeline.gate import Decision, decide
from ..pipeline.triage import Tier, Triage, triage
from ..results import VerifyResult, result_from_json
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
    path = reports_dir / REPORT_FILES["json"]
    if not path.is_file():
        raise VerifierError("no verify result found", path, hint="run `nox -s verify` (or `tito verify`) first")
    try:
        return result_from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise VerifierError(f"unreadable verify result: {exc}", path, hint="run the verify again") from None


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
        console.print(f"  partial run: {decision.partial} — run the full `tito package verify` for a release verdict",
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
                           "`tito package validate`)")
            continue
        for cause in causes:
            out.append(f"  {cause.line()}")
            out += [f"    BLOCKING {item}" for item in cause.items]
            out += [f"    {line}" for line in cause.evidence]
    return out


def aggregate(root: Path) -> VerifyResult:
    """Merge the verify.json files of a CI matrix (one folder per job) into one result; each
    Python row is labelled with the job folder it came from (e.g. its OS)."""
    files = sorted(root.rglob(REPORT_FILES["json"]))
    if not files:
        raise VerifierError("no verify.json found", root, hint="download the matrix jobs' reports first")
    merged: Optional[VerifyResult] = None
    for path in files:
        part = result_from_json(json.loads(path.read_text(encoding="utf-8")))
        label = path.relative_to(root).parts[0]
        for python in part.pythons:
            python.version = f"{python.version} {label}"
        if merged is None:
            merged = part
        else:
            merged.pythons += part.pythons
            merged.seconds = max(merged.seconds, part.seconds)
            merged.interrupted = merged.interrupted or part.interrupted
            merged.stages = [a if a.status == "failed" else b for a, b in zip(merged.stages, part.stages)] \
                if len(merged.stages) == len(part.stages) else merged.stages + part.stages
    assert merged is not None  # files is not empty
    return merged


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
