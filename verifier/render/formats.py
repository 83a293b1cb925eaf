"""Report formats of a verify result: Markdown (also for GITHUB_STEP_SUMMARY), JUnit XML (one
test case per check and per scenario x Python) and one self-contained HTML page.

The content is the course's release handoff: export validation, integration results,
dependency verification, build artifacts, installation per Python, student usability
(CNN and Transformer figures) and the verdict with what blocks it. With `--baseline` a "Since <ref>"
section (API, behaviour and speed against the earlier release) and with `--canary` the deprecations the
newest Python and NumPy raise follow the blockers; the first screen stays first.
"""
from __future__ import annotations

import html
import xml.etree.ElementTree as ElementTree
from typing import Dict, List, Tuple

from ..findingmodel import ERROR
from ..pipeline.gate import Decision
from ..pipeline.triage import Cause, Tier, Triage, triage
from ..results import (
    FAILED,
    NOT_RUN,
    PASSED,
    VerifyResult,
)
from . import charts
from .since import html_canary, html_since, markdown_canary, markdown_since, md_cell

USABILITY = ("cnn", "transformer")


def _modules_validated(result: VerifyResult, decision: Decision) -> str:
    """Modules with no install-breaking or student-facing failure (metadata findings do not count)."""
    return modules_validated(triage(result, decision), result)


def modules_validated(tri: Triage, result: VerifyResult) -> str:
    good, listed = tri.validated
    total = max(listed, result_modules(result))
    if not total:
        return "?"
    only = sum(1 for row in tri.modules if row.verdict == "metadata only")
    more = f"; {only} with metadata findings only" if only else ""
    return f"{good + total - listed}/{total} (no install-breaking or student-facing failure{more})"


def result_modules(result: VerifyResult) -> int:
    validate = next((s for s in result.stages if s.name == "validate"), None)
    if validate and validate.figures.get("modules"):
        return int(validate.figures["modules"])
    return 0


def _tests_status(result: VerifyResult) -> str:
    stages = [s for p in result.pythons for s in p.stages if s.name not in ("venv", "install")]
    if not stages or all(s.status == NOT_RUN for s in stages):
        return "NOT RUN"
    return "FAIL" if any(s.status == FAILED for s in stages) else "PASS"


def _build_status(result: VerifyResult) -> str:
    build = next((s for s in result.stages if s.name == "build"), None)
    return "SUCCESS" if build and build.ok else "BLOCKED"


def summary_rows(result: VerifyResult, decision: Decision) -> List[tuple]:
    return [("Modules validated", _modules_validated(result, decision)), ("Integration tests", _tests_status(result)),
            ("Build", _build_status(result)), verdict_row(decision)]


def verdict_row(decision: Decision) -> tuple:
    """("Ready for release", YES/NO) for a full run; ("Result", PASS (partial…)/FAIL) for a partial one."""
    return ("Result" if decision.partial else "Ready for release", decision.verdict)


def _figure_text(figures: Dict[str, object]) -> str:
    return ", ".join(f"{k} {v}" for k, v in figures.items() if isinstance(v, (int, float, str)) and
                     not str(v).startswith("/"))


def render_markdown(result: VerifyResult, decision: Decision) -> str:
    out: List[str] = [f"# TinyTorch Package Status Report — tinytorch {result.course_version}", "",
                      f"Course `{result.course}`, verified {result.started}, {result.seconds:.0f} s.", ""]
    tri = triage(result, decision)
    out += ["```text"] + first_screen(result, decision, tri) + ["```", ""]
    out += ["| check | result |", "|---|---|"]
    out += [f"| {name} | **{value}** |" for name, value in summary_rows(result, decision)]
    if decision.partial:
        out += ["", f"Partial run ({decision.partial}): not a release verdict."]
    if tri.modules:
        out += ["", "## Modules (course order)", "", "| " + " | ".join(MODULE_COLUMNS) + " |",
                "|---" * len(MODULE_COLUMNS) + "|"]
        out += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in module_table_rows(tri)]
    if decision.blockers:
        out += ["", "## Blocking, in the order to fix", ""]
        for tier, causes in detail_sections(tri):
            total = sum(c.count for c in causes)
            heading = f"{tier.title} — {total} blocker{'s' if total > 1 else ''}, {len(causes)} causes"
            body = []
            for cause in causes:
                body.append(f"- {md_cell(cause.line())}")
                body += [f"  - {md_cell(item)}" for item in cause.items]
                body += [f"  - {md_cell(line)}" for line in cause.evidence]
            if tier == Tier.METADATA:   # the long tail: collapsed, nothing dropped
                out += ["<details><summary>" + html.escape(heading) + "</summary>", ""] + body + ["", "</details>", ""]
            else:
                out += [f"### {heading}", ""] + body + [""]
    if result.baseline is not None:
        out += [""] + markdown_since(result.baseline)
    if result.canary is not None:
        out += [""] + markdown_canary(result.canary)
    out += ["", "## Export validation", ""]
    stages = {s.name: s for s in result.stages}
    for name in ("export", "validate"):
        if name in stages:
            out.append(f"- {name}: {stages[name].status} — {stages[name].detail}")
    if result.findings:
        out += ["", f"<details><summary>{len(result.findings)} findings (every one)</summary>", ""]
        for finding in result.findings:
            out.append(f"  - `{finding.code}` {finding.severity} {finding.module} "
                       f"{finding.path}:{finding.line} — {finding.issue}")
        out += ["", "</details>"]
    out += ["", "## Installation and integration per Python", ""]
    names: List[str] = []
    for python in result.pythons:
        names += [s.name for s in python.stages if s.name not in names]
    out.append("| Python | interpreter | NumPy | " + " | ".join(names) + " | result |")
    out.append("|---" * (len(names) + 4) + "|")
    for python in result.pythons:
        cells = [(stage.status if (stage := python.stage(n)) else NOT_RUN) for n in names]
        out.append(f"| {python.version} | {python.full_version or python.missing or ''} | "
                   f"{python.numpy_version or ''} | " + " | ".join(cells) + f" | **{python.status}** |")
    out += ["", "## Student usability", ""]
    for python in result.pythons:
        for name in USABILITY:
            stage = python.stage(name)
            if stage and stage.figures:
                out.append(f"- Python {python.version} {name}: {stage.status}; {_figure_text(stage.figures)}")
    failures = [(p, s) for p in result.pythons for s in p.stages if s.status == FAILED]
    if failures:
        out += ["", "## Failures", ""]
        for python, stage in failures:
            blame = f" — {stage.attribution.describe()}" if stage.attribution else ""
            out.append(f"- [{stage.name}] Python {python.version}: {stage.detail}{blame}")
    api = next((s for s in result.stages if s.name == "api"), None)
    if api is not None and (api.figures.get("added") or api.figures.get("breaking")):
        out += ["", "## Release notes (generated from the API snapshot)", ""]
        out += [f"- added `{name}`" for name in api.figures.get("added", [])]
        out += [f"- **breaking** {change}" for change in api.figures.get("breaking", [])]
    out += ["", "## Build artifacts", ""]
    out += [f"- `{a['file']}` {a['bytes']} bytes, sha256 `{a['sha256']}`" for a in result.artifacts]
    return "\n".join(out) + "\n"


# ---- `--baseline` (since the last release) and `--canary`, after the blockers ----

def render_junit(result: VerifyResult) -> str:
    suites = ElementTree.Element("testsuites", name="tinytorch-verify")

    def suite(name: str) -> ElementTree.Element:
        return ElementTree.SubElement(suites, "testsuite", name=name)

    def case(parent: ElementTree.Element, classname: str, name: str, status: str, seconds: float,
             message: str = "", text: str = "") -> None:
        element = ElementTree.SubElement(parent, "testcase", classname=classname, name=name, time=f"{seconds:.2f}")
        if status == FAILED:
            failure = ElementTree.SubElement(element, "failure", message=message[:500])
            failure.text = text or message
        elif status != PASSED:
            ElementTree.SubElement(element, "skipped", message=message or status)

    course = suite("course")
    for stage in result.stages:
        case(course, "course", stage.name, stage.status, stage.seconds, stage.detail, stage.log)
    for finding in result.findings:
        status = FAILED if finding.severity == ERROR else PASSED
        case(course, f"validate.{finding.module}", f"{finding.code} line {finding.line}",
             status, 0.0, finding.issue, finding.fix)
    for python in result.pythons:
        parent = suite(f"python-{python.version}")
        if python.missing:
            case(parent, f"py{python.version}", "interpreter", FAILED if result.strict else NOT_RUN, 0.0,
                 python.missing)
            continue
        for stage in python.stages:
            blame = f" — {stage.attribution.describe()}" if stage.attribution else ""
            case(parent, f"py{python.version}", stage.name, stage.status, stage.seconds,
                 stage.detail + blame, stage.log)
    for element in suites.iter("testsuite"):
        cases = list(element.iter("testcase"))
        element.set("tests", str(len(cases)))
        element.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        element.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))
    ElementTree.indent(suites) if hasattr(ElementTree, "indent") else None
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"


FIRST_SCREEN_CSS = """#first-screen{border:2px solid #b00;border-radius:6px;padding:.6em 1em;margin:.6em 0;
max-width:1300px}
#first-screen.fs-ok{border-color:#176f17}#first-screen h2{margin:.2em 0;font-size:1.05em}
#first-screen ol,#first-screen ul{margin:.2em 0 .4em 0}#first-screen li{margin:.1em 0}
.down{color:#555;font-size:.92em}.tier{margin-top:1em}details summary{cursor:pointer;font-weight:bold}"""

CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.passed{background:#d9f2d9}.failed{background:#f8d0d0}
.not-run{background:#eee;color:#777}.NOT-VERIFIED{background:#fde9b8}.verdict{font-size:1.4em;font-weight:bold}
.yes{color:#176f17}.no{color:#b00}code{background:#f3f3f3;padding:1px 3px}svg text{font-size:11px}
""" + FIRST_SCREEN_CSS


def _cls(status: str) -> str:
    return status.replace(" ", "-")


def render_graph_svg(edges: Dict[str, List[str]]) -> str:
    """The module dependency graph as inline SVG: one column per depth (longest chain of
    prerequisites), an arrow from each module to what it depends on. No script, opens offline."""
    depth: Dict[str, int] = {}

    def level(key: str, seen: tuple = ()) -> int:
        if key not in depth:
            deps = [d for d in edges.get(key, []) if d in edges and d not in seen]
            depth[key] = 1 + max((level(d, seen + (key,)) for d in deps), default=-1)
        return depth[key]

    for key in edges:
        level(key)
    columns: Dict[int, List[str]] = {}
    for key in sorted(edges):
        columns.setdefault(depth[key], []).append(key)
    box_w, box_h, gap_x, gap_y = 130, 24, 60, 14
    where = {key: (20 + col * (box_w + gap_x), 20 + row * (box_h + gap_y))
             for col, keys in columns.items() for row, key in enumerate(keys)}
    width = 40 + (max(columns, default=0) + 1) * (box_w + gap_x)
    height = 40 + max((len(k) for k in columns.values()), default=1) * (box_h + gap_y)
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
             f"aria-label='module dependency graph'><defs><marker id='arrow' viewBox='0 0 10 10' refX='10' "
             f"refY='5' markerWidth='6' markerHeight='6' orient='auto'><path d='M0,0 L10,5 L0,10 z' "
             f"fill='#888'/></marker></defs>"]
    for key, deps in edges.items():
        x1, y1 = where[key]
        for dep in deps:
            if dep in where:
                x2, y2 = where[dep]
                parts.append(f"<line x1='{x1}' y1='{y1 + box_h / 2}' x2='{x2 + box_w}' y2='{y2 + box_h / 2}' "
                             f"stroke='#bbb' marker-end='url(#arrow)'/>")
    for key, (x, y) in where.items():
        parts.append(f"<rect x='{x}' y='{y}' width='{box_w}' height='{box_h}' rx='4' fill='#eef3fb' "
                     f"stroke='#4a6fa5'/><text x='{x + 6}' y='{y + 16}'>{html.escape(key)}</text>")
    return "".join(parts) + "</svg>"


def render_html(result: VerifyResult, decision: Decision) -> str:
    e = html.escape
    tri = triage(result, decision)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>TinyTorch status</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>TinyTorch Package Status Report — tinytorch {e(result.course_version)}</h1>",
             f"<p>Course <code>{e(result.course)}</code>, verified {e(result.started)}, {result.seconds:.0f} s.</p>",
             html_first_screen(result, decision, tri), "<table>"]
    parts += [f"<tr><th>{e(n)}</th><td>{e(v)}</td></tr>" for n, v in summary_rows(result, decision)]
    parts.append("</table>")
    parts.append(html_module_table(tri))
    parts.append(html_blockers(tri))
    if result.baseline is not None:
        parts.append(html_since(result.baseline))
    if result.canary is not None:
        parts.append(html_canary(result.canary))
    names: List[str] = []
    for python in result.pythons:
        names += [s.name for s in python.stages if s.name not in names]
    parts.append("<h2>Matrix</h2><table><tr><th>Python</th><th>NumPy</th>" +
                 "".join(f"<th>{e(n)}</th>" for n in names) + "<th>result</th></tr>")
    for python in result.pythons:
        row = f"<tr><td>{e(python.full_version or python.version)}</td><td>{e(python.numpy_version or '')}</td>"
        for name in names:
            stage = python.stage(name)
            status = stage.status if stage else NOT_RUN
            title = e(stage.detail) if stage else ""
            row += f"<td class='{_cls(status)}' title='{title}'>{e(status)}</td>"
        parts.append(row + f"<td class='{_cls(python.status)}'>{e(python.status)}</td></tr>")
    parts.append("</table>")
    grid = charts.matrix_grid(result)
    if grid:
        parts.append(f"<figure id='matrix-grid'>{grid}<figcaption>Python × stage</figcaption></figure>")
    times = charts.stage_times(result)
    if times:
        parts.append("<h2>Time per stage</h2><figure id='stage-times'>" + charts.bar_chart(times) +
                     f"<figcaption>seconds; whole run {result.seconds:.0f} s (Pythons run in parallel)"
                     "</figcaption></figure>")
    if result.code_metrics:
        parts.append("<h2>Exported code per module</h2><figure id='module-complexity'>" +
                     charts.complexity_chart(result.code_metrics) + "<figcaption>course order; cyclomatic "
                     "complexity from the AST (package/metrics.py)</figcaption></figure>")
        parts.append("<table><tr><th>module</th><th>lines</th><th>functions</th><th>classes</th>"
                     "<th>complexity</th><th>most complex function</th><th></th></tr>")
        for m in result.code_metrics:
            flag = "much more complex than every later module" if m.get("flagged") else ""
            parts.append(f"<tr{' class=failed' if flag else ''}><td>{e(str(m['module']))}</td><td>{m.get('lines')}</td>"
                         f"<td>{m.get('functions')}</td><td>{m.get('classes')}</td><td>{m.get('complexity')}</td>"
                         f"<td>{e(str(m.get('max_function_name')))} ({m.get('max_function')})</td>"
                         f"<td>{e(flag)}</td></tr>")
        parts.append("</table>")
    if result.findings:
        parts.append("<h2>Findings</h2><table><tr><th>code</th><th>severity</th><th>module</th><th>where</th>"
                     "<th>issue</th><th>fix</th></tr>")
        for f in result.findings:
            parts.append(f"<tr><td>{e(f.code)}</td><td>{e(f.severity)}</td>"
                         f"<td>{e(f.module)}</td><td>{e(str(f.path))}:{e(str(f.line))}</td>"
                         f"<td>{e(f.issue)}</td><td>{e(f.fix)}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Student usability</h2><ul>")
    for python in result.pythons:
        for name in USABILITY:
            stage = python.stage(name)
            if stage and stage.figures:
                parts.append(f"<li>Python {e(python.version)} {e(name)}: {e(_figure_text(stage.figures))}</li>")
    parts.append("</ul>")
    if result.graph:
        parts.append("<h2>Dependency graph</h2>" + render_graph_svg(result.graph))
    parts.append("<h2>Build artifacts</h2><ul>" + "".join(
        f"<li><code>{e(a['file'])}</code> {a['bytes']} bytes, sha256 <code>{e(a['sha256'])}</code></li>"
        for a in result.artifacts) + "</ul></body></html>")
    return "\n".join(parts) + "\n"


# ---- the first screen and the ordered details, shared by the terminal, Markdown, HTML and the bundle ----

FIRST_SCREEN_LINES = 25    # the first screen: verdict per Python, root causes, next step
METADATA_SHOWN = 12        # metadata causes printed on the terminal before "… and N more"


def _answer_word(usable: object) -> str:
    return {True: "YES", False: "NO", None: "NOT VERIFIED"}[usable]  # type: ignore[index]


def first_screen(result: VerifyResult, decision: Decision, tri: Triage) -> List[str]:
    """The lines a maintainer reads first (at most 25): can a student install and use the package
    on each Python, which modules to fix first (root causes), and what to run next."""
    label, value = verdict_row(decision)
    out = [f"TinyTorch Package Status Report — tinytorch {result.course_version} — {label}: {value}"]
    if decision.partial:
        out.append(f"  partial run: {decision.partial}")
    out.append("Can a student install and use it?")
    for answer in tri.pythons or []:
        out.append(f"  Python {answer.version}: {_answer_word(answer.usable)} — {answer.reason}")
    if not tri.pythons:
        out.append("  no Python was verified")
    rest = [(tier, sum(c.count for c in tri.tier(tier))) for tier in (Tier.DEGRADED, Tier.METADATA)]
    rest = [(tier, n) for tier, n in rest if n]
    tail = [f"Modules validated: {modules_validated(tri, result)}", f"Next: {tri.next_step}"]
    if rest:
        tail.insert(0, "Then: " + ", ".join(f"{n} {'degraded' if tier == Tier.DEGRADED else 'metadata/policy'} "
                                            f"blocker{'s' if n > 1 else ''}" for tier, n in rest)
                    + f" in {len({c.module for t, _ in rest for c in tri.tier(t)})} modules (below)")
    roots = tri.root_causes
    if roots:
        out.append("Fix first (what students meet, then install-breaking; course order):")
        budget = FIRST_SCREEN_LINES - len(out) - len(tail) - 1   # keep one line for "… and N more"
        shown = 0
        for n, cause in enumerate(roots, 1):
            lines = _short(cause, n)
            if len(lines) > budget:
                break
            out += lines
            budget -= len(lines)
            shown += 1
        if shown < len(roots):
            out.append(f"  … and {len(roots) - shown} more root causes (below)")
    return out + tail


def _short(cause: Cause, n: int, width: int = 150) -> List[str]:
    """A root cause in one or two lines: module, what, where; then what it takes down."""
    line = f"  {n}. {cause.module_label}: {cause.headline}"
    if cause.where:
        line += f" ({cause.where})"
    if len(line) > width:
        line = line[:width - 1] + "…"
    extra = [cause.consequences()] if cause.takes_down or cause.dependents else []
    if cause.count > 1 and not extra:
        extra.append(f"{cause.count} blockers")
    below = "       ↳ " + "; ".join(extra)
    if len(below) > width:   # one terminal line each (the full list is in the details)
        below = below[:width - 1] + "…"
    return [line] + ([below] if extra else [])


def detail_sections(tri: Triage) -> List[Tuple[Tier, List[Cause]]]:
    return [(tier, tri.tier(tier)) for tier in Tier if tri.tier(tier)]


def module_table_rows(tri: Triage) -> List[Tuple[str, ...]]:
    """The module × check table: (module, verdict, validate, exports, imports alone, scenarios, course tests)."""
    return [(row.module, row.verdict, row.validate, row.exports, row.imports_alone, row.scenarios, row.course_tests)
            for row in tri.modules]


MODULE_COLUMNS = ("module", "verdict", "validate (impact: count)", "exports", "imports alone",
                  "scenarios failing on it", "course tests")





def html_first_screen(result: VerifyResult, decision: Decision, tri: Triage) -> str:
    """The verdict per Python, the root causes (each module once, with what it takes down) and the
    next step: the part of the page above the fold."""
    e = html.escape
    label, value = verdict_row(decision)
    out = [f"<section id='first-screen' class='{'fs-ok' if decision.passed else 'fs-no'}'>",
           f"<p class='verdict {'yes' if decision.passed else 'no'}'>{e(label)}: {e(value)}</p>"]
    if decision.partial:
        out.append(f"<p>Partial run: {e(decision.partial)}</p>")
    out.append("<h2>Can a student install and use it?</h2><ul>")
    out += [f"<li>Python {e(a.version)}: <b class='{'yes' if a.usable else 'no'}'>{_answer_word(a.usable)}</b> — "
            f"{e(a.reason)}</li>" for a in tri.pythons]
    out.append("</ul>")
    roots = tri.root_causes
    if roots:
        shown = roots[:10]
        out.append("<h2>Fix first (what students meet, then install-breaking; course order)</h2><ol>")
        for cause in shown:
            where = f" <code>{e(cause.where)}</code>" if cause.where else ""
            extra = f"<br><span class='down'>↳ {e(cause.consequences())}</span>" \
                if cause.takes_down or cause.dependents else ""
            out.append(f"<li><b>{e(cause.module_label)}</b>: {e(_clip_text(cause.headline, 160))}{where}{extra}</li>")
        out.append("</ol>")
        if len(roots) > len(shown):
            out.append(f"<p>… and {len(roots) - len(shown)} more root causes (below).</p>")
    rest = sum(c.count for c in tri.causes if c.tier >= Tier.DEGRADED)
    if rest:
        out.append(f"<p>Then: {rest} degraded or metadata/policy blockers (below, collapsed).</p>")
    out.append(f"<p>Modules validated: {e(modules_validated(tri, result))}<br>Next: {e(tri.next_step)}</p>")
    return "".join(out) + "</section>"


def _clip_text(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def html_module_table(tri: Triage) -> str:
    if not tri.modules:
        return ""
    e = html.escape
    rows = "".join("<tr" + (" class='failed'" if row[1] in ("breaks students", "install-breaking") else "") + ">"
                   + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in module_table_rows(tri))
    return ("<h2>Modules (course order)</h2><table id='modules'><tr>" +
            "".join(f"<th>{e(c)}</th>" for c in MODULE_COLUMNS) + f"</tr>{rows}</table>")


def html_blockers(tri: Triage) -> str:
    """Every blocker under its cause, in the order to fix; degraded and metadata collapsed."""
    e = html.escape
    out = []
    for tier, causes in detail_sections(tri):
        total = sum(c.count for c in causes)
        heading = f"{tier.title} — {total} blocker{'s' if total > 1 else ''}, {len(causes)} causes"
        body = "<ul>" + "".join(
            f"<li>{e(c.line())}<ul>" + "".join(f"<li>{e(i)}</li>" for i in c.items + c.evidence) + "</ul></li>"
            for c in causes) + "</ul>"
        if tier >= Tier.DEGRADED:
            out.append(f"<details class='tier'><summary>{e(heading)}</summary>{body}</details>")
        else:
            out.append(f"<h3 class='tier'>{e(heading)}</h3>{body}")
    return ("<h2>Blocking, in the order to fix</h2>" + "".join(out)) if out else ""
