"""The report side of `--baseline` and `--canary`: a "Since <ref>" section (API removed/changed/added,
behaviour per scenario and model, speed per operation with its ratio chart) and the canary's deprecations,
in Markdown (status.md, the GitHub step summary) and HTML. formats.py places them after the blockers.
"""
from __future__ import annotations

import html
from typing import List, Tuple

from ..pipeline.behaviour import describe as describe_behaviour
from ..results import BaselineComparison, CanaryFinding, CanaryReport, SpeedRow
from . import charts


def md_cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def api_split(since: BaselineComparison) -> Tuple[List[str], List[str]]:
    """The breaking API changes as (removed, changed): package/api.py words a removal "<name> removed"."""
    removed = [c for c in since.api_breaking if c.endswith(" removed") and ":" not in c]
    return removed, [c for c in since.api_breaking if c not in removed]


def _since_heading(since: BaselineComparison) -> str:
    return (f"wheel sha256 {since.baseline_sha256[:12] or '?'} → {since.candidate_sha256[:12] or '?'}; speed and "
            f"behaviour on Python {since.python or '?'}; an operation blocks when every round is slower than "
            f"{since.threshold:g}×")


def _api_mark(since: BaselineComparison, change: str) -> str:
    return "BLOCKING (not in the release notes)" if change in since.api_blocking else "acknowledged"


def _speed_cells(row: SpeedRow) -> Tuple[str, ...]:
    word = {"slower": "**slower — blocks**", "faster": "faster"}.get(row.verdict, "within the noise")
    return (row.operation, row.module, f"{row.baseline_ms:.3g}", f"{row.candidate_ms:.3g}", f"{row.ratio:.3g}×",
            f"{row.ratio_min:.3g}–{row.ratio_max:.3g}×", str(row.rounds), word)


SPEED_COLUMNS = ("operation", "module", "baseline ms", "candidate ms", "ratio", "min–max", "rounds", "verdict")


def markdown_since(since: BaselineComparison) -> List[str]:
    """`## Since <ref>`: the API removed, changed and added; behaviour per scenario and model; speed per operation."""
    out = [f"## Since {since.label}", "", _since_heading(since) + ".", "", "### API", ""]
    removed, changed = api_split(since)
    out += [f"- removed: `{c[:-len(' removed')]}` — {_api_mark(since, c)}" for c in removed]
    out += [f"- changed: {md_cell(c)} — {_api_mark(since, c)}" for c in changed]
    out += [f"- added: `{name}`" for name in since.api_added]
    if not since.api_breaking and not since.api_added:
        out.append("- no change of the public API")
    out += ["", "### Behaviour (same seeds, same Python)", ""]
    changed_lines = describe_behaviour(since.behaviour)
    effect = "blocks (--baseline-strict)" if since.behaviour_strict else "advisory"
    out += [f"- **changed** ({effect}): {md_cell(line)}" for line in changed_lines]
    if since.behaviour and not changed_lines:
        out.append(f"- {len(since.behaviour)} numbers of {', '.join(sorted({r.scenario for r in since.behaviour}))} "
                   "unchanged within tolerance")
    out += [f"- not compared: {name} ({md_cell(why)})" for name, why in since.behaviour_skipped.items()]
    if not since.behaviour and not since.behaviour_skipped:
        out.append("- not measured")
    out += ["", "### Speed per operation (candidate / baseline time)", ""]
    if since.speed:
        out += ["| " + " | ".join(SPEED_COLUMNS) + " |", "|---" * len(SPEED_COLUMNS) + "|"]
        out += ["| " + " | ".join(md_cell(c) for c in _speed_cells(row)) + " |" for row in since.speed]
    else:
        out.append("- not measured")
    out += [f"- not compared: {name} ({md_cell(why)})" for name, why in since.speed_skipped.items()]
    out += [f"- note: {md_cell(note)}" for note in since.notes]
    return out


def _canary_where(finding: CanaryFinding) -> str:
    return f"{finding.path}:{finding.line}" if finding.line else finding.path


def _canary_heading(canary: CanaryReport) -> str:
    effect = "blocks the release" if canary.mode == "block" else "advisory"
    return (f"Python {canary.full_version or canary.python or '?'}, NumPy {canary.numpy_version or '?'} (newest, "
            f"pre-releases allowed, no lock, -X dev), {canary.seconds:.0f} s; {effect}")


def markdown_canary(canary: CanaryReport) -> List[str]:
    """`## Canary`: each deprecation the package causes, at the student's file:line, and where it was seen."""
    out = ["## Canary: what the newest Python and NumPy will break", ""]
    if canary.missing:
        return out + [f"Not run: {md_cell(canary.missing)}"]
    out += [_canary_heading(canary) + ".", ""]
    if canary.findings:
        out += ["| where | category | message | seen in |", "|---|---|---|---|"]
        for f in canary.findings:
            via = f" (raised in {f.raised_in}, {f.how})" if f.raised_in else ""
            out.append(f"| `{md_cell(_canary_where(f))}` | {f.category} | {md_cell(f.message + via)} | "
                       f"{md_cell(', '.join(f.seen_in))} |")
    else:
        out.append("- no deprecation from the package")
    out += [f"- canary stage failed: {md_cell(line)}" for line in canary.failed_stages]
    return out


def html_since(since: BaselineComparison) -> str:
    e = html.escape
    removed, changed = api_split(since)
    api = [f"<li>removed: <code>{e(c[:-len(' removed')])}</code> — {e(_api_mark(since, c))}</li>" for c in removed]
    api += [f"<li>changed: {e(c)} — {e(_api_mark(since, c))}</li>" for c in changed]
    api += [f"<li>added: <code>{e(name)}</code></li>" for name in since.api_added]
    behaviour = [f"<li class='failed'>changed ({'blocks' if since.behaviour_strict else 'advisory'}): {e(line)}</li>"
                 for line in describe_behaviour(since.behaviour)]
    if since.behaviour and not behaviour:
        scenarios = ", ".join(sorted({r.scenario for r in since.behaviour}))
        behaviour.append(f"<li>{len(since.behaviour)} numbers of {e(scenarios)} unchanged within tolerance</li>")
    behaviour += [f"<li>not compared: {e(name)} ({e(why)})</li>" for name, why in since.behaviour_skipped.items()]
    parts = [f"<section id='since'><h2>Since {e(since.label)}</h2><p>{e(_since_heading(since))}.</p>",
             "<h3>API</h3><ul>" + ("".join(api) or "<li>no change of the public API</li>") + "</ul>",
             "<h3>Behaviour (same seeds, same Python)</h3><ul>" + ("".join(behaviour) or "<li>not measured</li>")
             + "</ul>", "<h3>Speed per operation</h3>"]
    if since.speed:
        parts.append("<figure id='speed-ratios'>" + charts.speed_ratio_chart(since.speed, since.threshold,
                                                                             f"speed since {since.label}")
                     + f"<figcaption>candidate / baseline time, log scale; red: slower in every round beyond "
                       f"{since.threshold:g}× (blocks), grey: within the noise, green: faster</figcaption></figure>")
        parts.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in SPEED_COLUMNS) + "</tr>" + "".join(
            f"<tr{' class=failed' if row.verdict == 'slower' else ''}>"
            + "".join(f"<td>{e(c.strip('*'))}</td>" for c in _speed_cells(row)) + "</tr>" for row in since.speed)
            + "</table>")
    else:
        parts.append("<p>not measured</p>")
    extra = [f"<li>not compared: {e(name)} ({e(why)})</li>" for name, why in since.speed_skipped.items()]
    extra += [f"<li>note: {e(note)}</li>" for note in since.notes]
    if extra:
        parts.append("<ul>" + "".join(extra) + "</ul>")
    return "".join(parts) + "</section>"


def html_canary(canary: CanaryReport) -> str:
    e = html.escape
    out = ["<section id='canary'><h2>Canary: what the newest Python and NumPy will break</h2>"]
    if canary.missing:
        return "".join(out) + f"<p>Not run: {e(canary.missing)}</p></section>"
    out.append(f"<p>{e(_canary_heading(canary))}.</p>")
    if canary.findings:
        out.append("<table><tr><th>where</th><th>category</th><th>message</th><th>seen in</th></tr>")
        for f in canary.findings:
            via = f" (raised in {f.raised_in}, {f.how})" if f.raised_in else ""
            out.append(f"<tr><td><code>{e(_canary_where(f))}</code></td><td>{e(f.category)}</td>"
                       f"<td>{e(f.message + via)}</td><td>{e(', '.join(f.seen_in))}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>No deprecation from the package.</p>")
    if canary.failed_stages:
        out.append("<ul>" + "".join(f"<li>canary stage failed: {e(line)}</li>" for line in canary.failed_stages)
                   + "</ul>")
    return "".join(out) + "</section>"
