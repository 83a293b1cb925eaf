"""Findings of the static validator: what is wrong, where, and what to do about it.

Every finding has a stable code (`TT101`), a severity (`error` blocks a release, `warning` does
not), the module it belongs to, the file and line, an issue and a fix. The text rendering is the
form students already know from the course:

    Export validation failed for 06_spatial:
    - Issue: #| default_exp core.spatal does not match exports_to tinytorch.core.spatial in module.yaml
      (TT101 error at modules/06_spatial/spatial.py:43)
    - Fix: change the directive on line 43 of modules/06_spatial/spatial.py to `#| default_exp core.spatial`
    - Resubmit after fixing

The finding model itself (the catalogue of codes, `Finding`, `Location`) is verifier/findingmodel.py, at
the bottom of the layers so the verify result, the gate and the renderers hold typed findings; it is
imported here under its own names, so the checks keep importing everything about findings from one place.
This module adds what the validator does with a list of findings: count, fold, render.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ..findingmodel import CATALOGUE, COURSE, ERROR, WARNING, Finding, Impact, When, category
from ..findingmodel import Location as Location


def count(findings: Iterable[Finding]) -> Dict[str, int]:
    """Unwaived errors and warnings."""
    counts = {ERROR: 0, WARNING: 0}
    for finding in findings:
        if finding.waived is None:
            counts[finding.severity] += 1
    return counts


def count_impact(findings: Iterable[Finding]) -> Dict[str, int]:
    """Unwaived findings per impact, and the waived ones."""
    counts = {i.value: 0 for i in Impact}
    counts["waived"] = 0
    for finding in findings:
        counts["waived" if finding.waived is not None else finding.impact.value] += 1
    return counts


def count_when(findings: Iterable[Finding]) -> Dict[str, int]:
    """Unwaived install-breaking findings by when they fail: at import or only at a call."""
    counts = {w.value: 0 for w in When}
    for finding in findings:
        if finding.waived is None and finding.impact is Impact.INSTALL_BREAKING and finding.when is not None:
            counts[finding.when.value] += 1
    return counts


def count_codes(findings: Iterable[Finding]) -> Dict[str, int]:
    """Unwaived findings per code, in catalogue order."""
    counts: Dict[str, int] = {}
    for finding in findings:
        if finding.waived is None:
            counts[finding.code] = counts.get(finding.code, 0) + 1
    return {c.code: counts[c.code] for c in CATALOGUE.values() if c.code in counts}


def dedupe(findings: Sequence[Finding]) -> List[Finding]:
    """One faulty statement gives one finding: among findings at one file and line, drop those a more
    specific code supersedes, and fold repeats of one code into the first (their issues as details)."""
    at: Dict[Tuple[str, int, Optional[int]], List[Finding]] = {}
    for finding in findings:
        if finding.path is not None and finding.line is not None:
            at.setdefault((finding.path, finding.line, finding.cell), []).append(finding)
    dropped: set = set()
    for group in at.values():
        if len(group) < 2:
            continue
        present = {f.code for f in group}
        superseded = {s for code in present for s in CATALOGUE[code].supersedes}
        kept: Dict[str, Finding] = {}
        for finding in group:
            if finding.code in superseded:
                dropped.add(id(finding))
            elif finding.code in kept:
                first = kept[finding.code]
                if finding.issue != first.issue:
                    first.details.append(f"also: {finding.issue}")
                dropped.add(id(finding))
            else:
                kept[finding.code] = finding
    return [f for f in findings if id(f) not in dropped]


def _span(lines: Sequence[int]) -> str:
    return f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}–{lines[-1]}"


def merge_runs(findings: Sequence[Finding]) -> List[Finding]:
    """One cause, one finding: findings of a `runs` code on consecutive lines of one file (a cell of
    imports, a block of sys.path statements) become one finding at the first line that lists every
    statement; each original issue stays in the details and each place in `locations`."""
    groups: Dict[Tuple[str, str, str, Optional[int]], List[Finding]] = {}
    for finding in findings:
        if CATALOGUE[finding.code].runs and finding.path is not None and finding.line is not None:
            groups.setdefault((finding.code, finding.module, finding.path, finding.cell), []).append(finding)
    replaced: Dict[int, Optional[Finding]] = {}  # id of an original -> its merged finding (None: folded away)
    for group in groups.values():
        group.sort(key=lambda f: f.line or 0)
        runs: List[List[Finding]] = [[group[0]]]
        for finding in group[1:]:
            if finding.line == (runs[-1][-1].line or 0) + 1:
                runs[-1].append(finding)
            else:
                runs.append([finding])
        for run in runs:
            if len(run) < 2:
                continue
            replaced[id(run[0])] = _merged(run)
            for finding in run[1:]:
                replaced[id(finding)] = None
    out: List[Finding] = []
    for finding in findings:
        if id(finding) not in replaced:
            out.append(finding)
        elif replaced[id(finding)] is not None:
            out.append(replaced[id(finding)])  # type: ignore[arg-type]
    return out


def _merged(run: List[Finding]) -> Finding:
    first = run[0]
    lines = [f.line for f in run if f.line is not None]
    locations = tuple(loc for f in run for loc in f.locations)
    statements = [loc.what for loc in locations if loc.what]
    listed = "; ".join(f"`{s}`" for s in statements)
    return Finding(first.code, first.module, first.path, first.line,
                   f"{len(run)} statements on {_span(lines)} of one cell: {first.title}"
                   + (f": {listed}" if listed else ""),
                   f"{first.fix} — and likewise for each statement listed", first.cell,
                   [f"line {f.line}: {f.issue}" for f in run] + [d for f in run for d in f.details],
                   tuple(dict.fromkeys(r for f in run for r in f.related)), pythons=first.pythons,
                   locations=locations)


def _summary_block(findings: Sequence[Finding]) -> List[str]:
    """The first screen: counts per code, then the install-breaking findings with file:line."""
    active = [f for f in findings if f.waived is None]
    if not active:
        return []
    out = ["Findings per code:"]
    for code, n in count_codes(active).items():
        entry = CATALOGUE[code]
        out.append(f"  {code} {entry.severity:<7} {entry.impact.value:<16} {n:>4}  {entry.title}")
    breaking = [f for f in active if f.impact is Impact.INSTALL_BREAKING]
    out.append("")
    if breaking:
        when = count_when(breaking)
        unknown = len(breaking) - when["import"] - when["call"]
        out.append(f"Fix these first — {len(breaking)} install-breaking finding(s) (`import` or a call fails "
                   f"in a fresh venv; {when['import']} at import, {when['call']} only at a call"
                   + (f", {unknown} not located" if unknown else "") + "):")
        for f in breaking:
            effect = f.breaks()
            out.append(f"  {f.where or f.module}: {f.code} {f.issue}" + (f" [{effect}]" if effect else ""))
    else:
        out.append("No install-breaking findings: what follows is metadata and policy.")
    out.append("")
    return out


def render_text(findings: Sequence[Finding], module_order: Sequence[str] = (),
                summary: str = "", notes: Sequence[str] = ()) -> str:
    """A one-screen summary (counts per code, install-breaking findings first), then the findings
    grouped by module and category in the form students know, then waived findings."""
    order = {key: i for i, key in enumerate(module_order)}
    active = [f for f in findings if f.waived is None]
    waived = [f for f in findings if f.waived is not None]
    groups: Dict[Tuple[str, str], List[Finding]] = {}
    for finding in active:
        groups.setdefault((finding.module, category(finding.code)), []).append(finding)

    def rank(item: Tuple[str, str]) -> Tuple[int, str, str]:
        module, cat = item
        return (order.get(module, len(order) + (1 if module == COURSE else 0)), module, cat)

    out: List[str] = []
    for note in notes:
        out.append(f"Note: {note}")
    if notes:
        out.append("")
    out += _summary_block(findings)
    for key in sorted(groups, key=rank):
        module, cat = key
        items = groups[key]
        failed = any(f.is_error for f in items)
        subject = "the course" if module == COURSE else module
        out.append(f"{cat} validation {'failed' if failed else 'warnings'} for {subject}:")
        for f in items:
            out.append(f"- Issue: {f.issue}")
            out.append(f"  ({f.code} {f.severity}{' at ' + f.where if f.where else ''})")
            for detail in f.details:
                out.append(f"    {detail}")
            out.append(f"- Fix: {f.fix}")
        out.append("- Resubmit after fixing" if failed else "- Consider fixing before the release")
        out.append("")
    if waived:
        out.append(f"Waived by the course ({len(waived)}, not blocking):")
        for f in waived:
            out.append(f"- {f.code} {f.where or f.module}: {f.issue}")
            out.append(f"  waived: {f.waived}")
        out.append("")
    if summary:
        out.append(summary)
    return "\n".join(out).rstrip() + "\n"


def render_json(payload: Dict[str, Any], findings: Sequence[Finding]) -> str:
    data = dict(payload)
    data["counts"] = count(findings)
    data["counts_by_impact"] = count_impact(findings)
    data["counts_by_code"] = count_codes(findings)
    data["install_breaking_by_when"] = count_when(findings)
    data["findings"] = [f.to_dict() for f in findings]
    return json.dumps(data, indent=2) + "\n"


def catalogue_table() -> str:
    """The catalogue as a Markdown table (docs/validation.md is checked against it in the tests)."""
    rows = ["| code | severity | impact | meaning |", "|---|---|---|---|"]
    rows += [f"| {c.code} | {c.severity} | {c.impact.value} | {c.title} |" for c in CATALOGUE.values()]
    return "\n".join(rows)
