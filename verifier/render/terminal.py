"""Reports of a verify run: the JSON record (written atomically), and the terminal table
(Python x stage -> passed / failed / not run) with every failure's stage, Python, module and fix.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

from rich.console import Console
from rich.table import Table

from ..atomic import write_atomic  # noqa: F401 (reports are written atomically)
from ..pipeline.behaviour import describe as describe_behaviour
from ..results import FAILED, NOT_RUN, NOT_VERIFIED, PASSED, BaselineComparison, CanaryReport, VerifyResult

STYLE = {PASSED: "green", FAILED: "bold red", NOT_RUN: "dim", NOT_VERIFIED: "bold yellow"}


def write_json(result: VerifyResult, reports_dir: Path) -> Path:
    path = reports_dir / "verify.json"
    write_atomic(path, json.dumps(result.to_json(), indent=2, default=str) + "\n")
    return path


def load_json(path: Path) -> Dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def failures(result: VerifyResult) -> List[str]:
    """One line per failure: stage, Python, module and file:line, and the fix."""
    lines: List[str] = []
    for stage in result.stages:
        if stage.status == FAILED:
            fix = f" Fix: {stage.fix}" if stage.fix else ""
            lines.append(f"[{stage.name}] {stage.detail}{fix}")
    for python in result.pythons:
        if python.missing:
            lines.append(f"[interpreter] Python {python.version}: {python.missing} — NOT VERIFIED")
        for stage in python.stages:
            if stage.status != FAILED:
                continue
            blame = f" — {stage.attribution.describe()}" if stage.attribution else ""
            lines.append(f"[{stage.name}] Python {python.version}: {stage.detail}{blame}")
    if result.interrupted:
        lines.append("[run] interrupted before every stage ran — NOT VERIFIED")
    return lines


def print_summary(result: VerifyResult, console: Console, failures_list: bool = True) -> None:
    stage_names: List[str] = []
    for python in result.pythons:
        for stage in python.stages:
            if stage.name not in stage_names:
                stage_names.append(stage.name)
    table = Table(title=f"tinytorch {result.course_version} — verify", show_lines=False)
    table.add_column("Python")
    for name in stage_names:
        table.add_column(name)
    table.add_column("result")
    for python in result.pythons:
        cells = []
        for name in stage_names:
            found = python.stage(name)
            status = found.status if found else NOT_RUN
            cells.append(f"[{STYLE[status]}]{status}[/]")
        label = f"{python.version} ({python.full_version})" if python.full_version else python.version
        table.add_row(label, *cells, f"[{STYLE[python.status]}]{python.status}[/]")
    console.print(table)
    for stage in result.stages:
        console.print(f"  {stage.name:<9} [{STYLE[stage.status]}]{stage.status}[/] "
                      f"{stage.seconds:6.1f} s  {stage.detail}")
    if result.baseline is not None:
        for line in since_lines(result.baseline):
            console.print(line, markup=False, highlight=False)
    if result.canary is not None:
        for line in canary_lines(result.canary):
            console.print(line, markup=False, highlight=False)
    per_stage: Dict[str, float] = {}
    for python in result.pythons:
        for stage in python.stages:
            per_stage[stage.name] = per_stage.get(stage.name, 0.0) + stage.seconds
    if per_stage:
        console.print("  time per stage, summed over Pythons: " +
                      ", ".join(f"{name} {seconds:.1f} s" for name, seconds in per_stage.items()), markup=False)
    problems = failures(result) if failures_list else []  # the status report lists them by cause instead
    if problems:
        console.print("[bold]Failures:[/]")
        for line in problems:
            console.print(f"  {line}", markup=False, highlight=False)
    verdict = "[bold green]VERIFIED[/]" if result.ok else "[bold red]NOT VERIFIED[/]"
    used = f" — {result.jobs} workers, utilisation {result.utilisation:.0%}" if result.utilisation is not None else ""
    console.print(f"{verdict} in {result.seconds:.1f} s{used}")


def _times(ratio: float) -> str:
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.2f}×"


def since_lines(since: BaselineComparison) -> List[str]:
    """The `--baseline` section: API changes and speed per operation against the earlier release."""
    out = [f"  since {since.label} (wheel sha256 {since.baseline_sha256[:12] or '?'} -> "
           f"{since.candidate_sha256[:12] or '?'}; speed on Python {since.python or '?'}, blocks above "
           f"{since.threshold}×):"]
    blocking = set(since.api_blocking)
    for change in since.api_breaking:
        out.append(f"    API {'BLOCKING' if change in blocking else 'acknowledged'}: {change}")
    added = f": {', '.join(since.api_added[:5])}{' …' if len(since.api_added) > 5 else ''}" if since.api_added else ""
    out.append(f"    API: {len(since.api_breaking)} breaking ({len(blocking)} not in the release notes), "
               f"{len(since.api_added)} added{added}")
    for row in since.speed:
        if row.verdict in ("slower", "faster"):
            word = "BLOCKING slower" if row.verdict == "slower" else "faster"
            shown = row.ratio if row.verdict == "slower" else 1 / row.ratio
            low, high = (row.ratio_min, row.ratio_max) if row.verdict == "slower" else \
                (1 / row.ratio_max, 1 / row.ratio_min)
            out.append(f"    {word}: {row.module}: {row.operation} {_times(shown)} ({row.rounds} rounds, "
                       f"{_times(low)}–{_times(high)}; {row.baseline_ms:.3g} -> {row.candidate_ms:.3g} ms)")
    same = [row for row in since.speed if row.verdict not in ("slower", "faster")]
    if same:
        out.append(f"    unchanged within {since.threshold}×: " +
                   ", ".join(f"{row.operation} {_times(row.ratio)}" for row in same))
    for name, why in since.speed_skipped.items():
        out.append(f"    not compared: {name} ({why})")
    if since.behaviour or since.behaviour_skipped:
        changed = describe_behaviour(since.behaviour)
        word = "BLOCKING" if since.behaviour_strict else "advisory"
        out += [f"    behaviour {word}: {line}" for line in changed]
        if not changed and since.behaviour:
            out.append(f"    behaviour: {len(since.behaviour)} numbers of "
                       f"{', '.join(sorted({r.scenario for r in since.behaviour}))} unchanged within tolerance")
        out += [f"    behaviour not compared: {name} ({why})" for name, why in since.behaviour_skipped.items()]
    out += [f"    note: {note}" for note in since.notes]
    return out


def canary_lines(canary: CanaryReport) -> List[str]:
    """The `--canary` section: what the newest Python and NumPy will break, at the student's file:line."""
    effect = "blocks the release" if canary.mode == "block" else "advisory"
    if canary.missing:
        return [f"  canary ({effect}): not run — {canary.missing}"]
    out = [f"  canary ({effect}): Python {canary.full_version or canary.python}, numpy {canary.numpy_version or '?'} "
           f"(newest, pre-releases allowed, no lock, -X dev), {canary.seconds:.0f} s: "
           + (f"{len(canary.findings)} deprecation(s) from the package" if canary.findings else
              "no deprecation from the package")]
    for finding in canary.findings:
        where = f"{finding.path}:{finding.line}" if finding.line else finding.path
        via = f" (raised in {finding.raised_in}, {finding.how})" if finding.raised_in else ""
        more = len(finding.seen_in) - 3
        seen = ", ".join(finding.seen_in[:3]) + (f" +{more} more" if more > 0 else "")
        out.append(f"    {where}: {finding.category}: {finding.message}{via} — seen in {seen}")
    out += [f"    canary stage failed: {line}" for line in canary.failed_stages]
    return out
