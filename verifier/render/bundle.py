"""The release hand-off bundle (`tinytorch-verifier package report --bundle DIR`): one folder, from the last
verify, with an `index.html` linking every file.

    dist/                      the verified sdist and wheel (checked against the sha256 verify
                               recorded) and SHA256SUMS
    reports/                   status.md, verify.json, junit.xml, report.html
    validation.md              export validation: stages and every finding
    dependency-graph.svg/.mmd  the module dependency graph (SVG and Mermaid)
    installation.md            installation verification per Python (and the editable install)
    usability.md / .json       student usability: the CNN and Transformer scenarios' figures
    api.md                     the public API surface, read from the verified wheel
    RELEASE_NOTES.md           the course's release notes and the API changes verify found; with
                               `--baseline`, the changes since that release: breaking changes,
                               additions, behaviour changes, performance
    examples/                  the student scenarios, as integration examples

Nothing here runs student code: the API surface is read from the wheel's files as AST.
"""
from __future__ import annotations

import html
import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

from ..errors import VerifierError
from ..findingmodel import ERROR
from ..package.api import RELEASE_NOTES, package_surface
from ..package.build import sha256
from ..pipeline.baseline import describe_ratio
from ..pipeline.behaviour import describe as describe_behaviour
from ..pipeline.gate import decide
from ..pipeline.triage import triage
from ..results import NOT_RUN, BaselineComparison, VerifyResult
from ..runner.scenarios import discover_scenarios
from .formats import FIRST_SCREEN_CSS, USABILITY, html_blockers, html_first_screen, render_graph_svg
from .since import api_split
from .status import REPORT_FILES, render
from .terminal import write_atomic


@dataclass
class Bundle:
    root: Path
    files: List[Tuple[str, str]] = field(default_factory=list)   # (relative path, description)


def _artifacts(result: VerifyResult, dist: Path, out: Path) -> List[Tuple[str, str]]:
    """Copy the verified sdist and wheel, refusing files whose sha256 is not the one verify recorded."""
    if not result.artifacts:
        raise VerifierError("the last verify built no artifacts",
                            hint="fix the build and run `tinytorch-verifier package verify`")
    rows = []
    sums = []
    for artifact in result.artifacts:
        source = dist / artifact["file"]
        if not source.is_file():
            raise VerifierError(f"{artifact['file']} of the last verify is not in {dist}",
                                hint="run `tinytorch-verifier package verify` again with the same --reports folder")
        digest = sha256(source)
        if digest != artifact["sha256"]:
            raise VerifierError(f"{source} is not the verified file "
                                f"(sha256 {digest[:12]}… != {artifact['sha256'][:12]}…)",
                                hint="run `tinytorch-verifier package verify` again; never hand off an unverified file")
        (out / "dist").mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, out / "dist" / source.name)
        sums.append(f"{digest}  {source.name}")
        rows.append((f"dist/{source.name}", f"{artifact['bytes']} bytes, sha256 {digest}"))
    write_atomic(out / "dist" / "SHA256SUMS", "\n".join(sums) + "\n")
    rows.append(("dist/SHA256SUMS", "sha256 of both, for `sha256sum -c`"))
    return rows


def _validation(result: VerifyResult) -> str:
    out = ["# Export validation", ""]
    for stage in result.stages:
        if stage.name in ("validate", "export", "api", "build"):
            out.append(f"- **{stage.name}**: {stage.status} — {stage.detail}")
    errors = [f for f in result.findings if f.severity == ERROR]
    out += ["", f"{len(result.findings)} findings, {len(errors)} errors.", ""]
    if result.findings:
        out += ["| code | severity | module | where | issue | fix |", "|---|---|---|---|---|---|"]
        for f in result.findings:
            cells = [f.code, f.severity, f.module, f"{f.path}:{f.line}", f.issue, f.fix]
            out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out) + "\n"


def _mermaid(edges: Dict[str, List[str]]) -> str:
    """Mermaid flowchart: an arrow from each module to what it depends on."""
    lines = ["graph LR"]
    for key in edges:
        lines.append(f"    m{key}[\"{key}\"]")
    for key, deps in edges.items():
        lines += [f"    m{key} --> m{dep}" for dep in deps if dep in edges]
    return "\n".join(lines) + "\n"


def _installation(result: VerifyResult) -> str:
    out = ["# Installation verification per Python", "",
           "| Python | interpreter | NumPy | venv | install | imports | installation | result |",
           "|---|---|---|---|---|---|---|---|"]
    for python in result.pythons:
        stages = [python.stage(n) for n in ("venv", "install", "imports", "installation")]
        cells = [stage.status if stage is not None else NOT_RUN for stage in stages]
        out.append(f"| {python.version} | {python.full_version or python.missing or ''} | "
                   f"{python.numpy_version or ''} | " + " | ".join(cells) + f" | **{python.status}** |")
    out += [""]
    for python in result.pythons:
        install = python.stage("install")
        if install is None:
            continue
        out.append(f"- Python {python.version}: {install.detail}; lock {install.figures.get('lock', '-')}; "
                   f"tinytorch from `{python.tinytorch_file or '?'}`")
    editable = next((s for s in result.stages if s.name == "editable"), None)
    if editable is not None:
        out += ["", "## Editable install (`pip install -e` of a course copy)", "",
                f"- {editable.status}: {editable.detail}"]
        if editable.attribution:
            out.append(f"- {editable.attribution.describe()}")
    return "\n".join(out) + "\n"


def _usability(result: VerifyResult) -> Tuple[str, Dict[str, Dict[str, object]]]:
    data: Dict[str, Dict[str, object]] = {}
    out = ["# Student usability", "", "The CNN and Transformer scenarios' figures, per Python.", ""]
    for name in USABILITY:
        out += [f"## {name}", ""]
        rows = [(p, stage) for p in result.pythons for stage in [p.stage(name)] if stage is not None]
        if not rows:
            out += ["not run", ""]
            continue
        keys: List[str] = []
        for _, stage in rows:
            keys += [k for k, v in stage.figures.items() if k not in keys and isinstance(v, (int, float, str))]
        out += ["| Python | status | seconds | " + " | ".join(keys) + " |", "|---" * (len(keys) + 3) + "|"]
        for python, stage in rows:
            data.setdefault(name, {})[python.version] = {"status": stage.status, "seconds": stage.seconds,
                                                          **stage.figures}
            out.append(f"| {python.version} | {stage.status} | {stage.seconds:.1f} | " +
                       " | ".join(str(stage.figures.get(k, "")) for k in keys) + " |")
        out.append("")
    return "\n".join(out) + "\n", data


def _api(wheel: Path) -> str:
    """The public API surface of the wheel's package, read as AST from the wheel's files."""
    with tempfile.TemporaryDirectory(prefix="tito-bundle-api-") as work:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(work)
        packages = [p for p in Path(work).iterdir() if p.is_dir() and (p / "__init__.py").is_file()]
        if not packages:
            raise VerifierError(f"{wheel.name} holds no package", wheel)
        surface = package_surface(packages[0])
    out = [f"# Public API of {wheel.name}", "",
           f"{sum(len(v) for v in surface.values())} public names in {len(surface)} modules.", ""]
    for module in sorted(surface):
        out += [f"## `{module}`", ""]
        for name, entry in sorted(surface[module].items()):
            if entry.get("kind") == "class":
                methods = ", ".join(f"`{m}`" for m in sorted(entry.get("methods", {})) if not m.startswith("_")
                                    or m in ("__init__", "__call__"))
                out.append(f"- class `{name}`" + (f": {methods}" if methods else ""))
            else:
                params = ", ".join(p["name"] + ("=…" if p.get("default") else "") for p in entry.get("params", []))
                out.append(f"- {entry.get('kind', 'name')} `{name}({params})`" if entry.get("kind") == "function"
                           else f"- {entry.get('kind', 'name')} `{name}`")
        out.append("")
    return "\n".join(out)


def _release_notes(result: VerifyResult) -> str:
    if result.baseline is not None:
        return _release_notes_since(result, result.baseline)
    out = [f"# Release notes — tinytorch {result.course_version}", ""]
    notes = Path(result.course) / RELEASE_NOTES
    if notes.is_file():
        out += [notes.read_text(encoding="utf-8").rstrip(), ""]
    api = next((s for s in result.stages if s.name == "api"), None)
    out += ["## API changes found by verify", ""]
    if api is None or not (api.figures.get("added") or api.figures.get("breaking")):
        out.append("None against the committed API snapshot.")
    else:
        out += [f"- added `{n}`" for n in api.figures.get("added", [])]
        out += [f"- **breaking** {c}" for c in api.figures.get("breaking", [])]
    return "\n".join(out) + "\n"


def _release_notes_since(result: VerifyResult, since: BaselineComparison) -> str:
    """The changes since the release `--baseline` named, as verify measured them (the course's own notes
    follow: they are where a breaking change is acknowledged)."""
    out = [f"# Release notes — tinytorch {result.course_version} (since {since.label})", "",
           f"Measured by `tinytorch-verifier verify --baseline {since.ref}`: the public API of both wheels, the "
           f"student scenarios' numbers with the same seeds and the speed per operation on Python "
           f"{since.python or '?'}.", ""]
    removed, changed = api_split(since)
    out += ["## Breaking changes", ""]
    out += [f"- `{c[:-len(' removed')]}` removed" + ("" if c not in since.api_blocking else
                                                    " (not yet acknowledged in the course's release notes)")
            for c in removed]
    out += [f"- {c}" + ("" if c not in since.api_blocking else " (not yet acknowledged in the course's release notes)")
            for c in changed]
    if not since.api_breaking:
        out.append("None.")
    out += ["", "## Additions", ""]
    out += [f"- `{name}`" for name in since.api_added] or ["None."]
    out += ["", "## Behaviour changes", ""]
    lines = describe_behaviour(since.behaviour)
    if lines:
        out += [f"- {line}" for line in lines]
    elif since.behaviour:
        out.append(f"None: {len(since.behaviour)} numbers of "
                   f"{', '.join(sorted({r.scenario for r in since.behaviour}))} unchanged within tolerance.")
    else:
        out.append("Not measured.")
    out += [f"- not compared: {name} ({why})" for name, why in since.behaviour_skipped.items()]
    out += ["", "## Performance", ""]
    moved = [row for row in since.speed if row.verdict in ("slower", "faster")]
    out += [f"- {describe_ratio(row, since.label)}" for row in sorted(moved, key=lambda r: r.verdict != "slower")]
    same = [row for row in since.speed if row.verdict not in ("slower", "faster")]
    if same:
        out.append(f"- unchanged within the noise ({since.threshold:g}×): " + ", ".join(r.operation for r in same))
    if not since.speed:
        out.append("Not measured" + (f": {'; '.join(since.notes)}" if since.notes else "."))
    notes = Path(result.course) / RELEASE_NOTES
    if notes.is_file():
        out += ["", f"## From the course's {RELEASE_NOTES}", "", notes.read_text(encoding="utf-8").rstrip()]
    return "\n".join(out) + "\n"


INDEX_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:60em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.yes{color:#176f17}.no{color:#b00}.verdict{font-size:1.4em;font-weight:bold}code{background:#f3f3f3}
""" + FIRST_SCREEN_CSS


def _index(result: VerifyResult, files: List[Tuple[str, str]]) -> str:
    e = html.escape
    decision = decide(result)
    rows = "".join(f"<tr><td><a href='{e(path)}'>{e(path)}</a></td><td>{e(description)}</td></tr>"
                   for path, description in files)
    tri = triage(result, decision)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>tinytorch {e(result.course_version)} "
            f"hand-off</title><style>{INDEX_CSS}</style></head><body>"
            f"<h1>tinytorch {e(result.course_version)} — release hand-off</h1>"
            f"<p>From the verify of {e(result.started)} ({result.seconds:.0f} s) "
            f"of <code>{e(result.course)}</code>.</p>"
            + html_first_screen(result, decision, tri) + html_blockers(tri)
            + f"<h2>Contents</h2><table><tr><th>file</th><th>what</th></tr>{rows}</table></body></html>\n")


def make_bundle(result: VerifyResult, reports_dir: Path, out: Path) -> Bundle:
    """Write the hand-off bundle for `result` (read from `reports_dir`) into `out`."""
    if out.exists() and any(out.iterdir()):
        raise VerifierError("the bundle folder is not empty", out, hint="name a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    bundle = Bundle(out)
    files = bundle.files
    files += _artifacts(result, reports_dir / "dist", out)
    what = {"markdown": "status report (Markdown)", "json": "full verify result (JSON)",
            "junit": "JUnit XML for CI", "html": "status report (HTML, with pictures)"}
    for fmt, name in REPORT_FILES.items():
        write_atomic(out / "reports" / name, render(result, fmt))
        files.append((f"reports/{name}", what[fmt]))
    write_atomic(out / "validation.md", _validation(result))
    files.append(("validation.md", "export validation report: stages and findings"))
    write_atomic(out / "dependency-graph.svg", render_graph_svg(result.graph))
    write_atomic(out / "dependency-graph.mmd", _mermaid(result.graph))
    files += [("dependency-graph.svg", "module dependency graph (SVG)"),
              ("dependency-graph.mmd", "module dependency graph (Mermaid)")]
    write_atomic(out / "installation.md", _installation(result))
    files.append(("installation.md", "installation verification per Python, and the editable install"))
    text, data = _usability(result)
    write_atomic(out / "usability.md", text)
    write_atomic(out / "usability.json", json.dumps(data, indent=2) + "\n")
    files += [("usability.md", "student usability: CNN and Transformer figures"),
              ("usability.json", "the same figures as JSON")]
    wheel = next(out.glob("dist/*.whl"))
    write_atomic(out / "api.md", _api(wheel))
    files.append(("api.md", "public API surface, from the verified wheel"))
    write_atomic(out / "RELEASE_NOTES.md", _release_notes(result))
    files.append(("RELEASE_NOTES.md", f"release notes since {result.baseline.label}: breaking changes, additions, "
                  "behaviour changes, performance" if result.baseline is not None else
                  "release notes and the API changes verify found"))
    (out / "examples").mkdir()
    for scenario in discover_scenarios():
        shutil.copy2(scenario.script, out / "examples" / scenario.script.name)
        files.append((f"examples/{scenario.script.name}", f"integration example: the `{scenario.name}` scenario"))
    write_atomic(out / "index.html", _index(result, files))
    return bundle
