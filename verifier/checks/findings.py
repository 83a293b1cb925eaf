"""Findings of the static validator: what is wrong, where, and what to do about it.

Every finding has a stable code (`TT101`), a severity (`error` blocks a release, `warning` does
not), the module it belongs to, the file and line, an issue and a fix. The text rendering is the
form students already know from the course:

    Export validation failed for 06_spatial:
    - Issue: #| default_exp core.spatal does not match exports_to tinytorch.core.spatial in module.yaml
      (TT101 error at modules/06_spatial/spatial.py:43)
    - Fix: change the directive on line 43 of modules/06_spatial/spatial.py to `#| default_exp core.spatial`
    - Resubmit after fixing

The catalogue below is the single list of codes; docs/validation.md documents it for users.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

ERROR = "error"
WARNING = "warning"
COURSE = "course"  # the module key of findings about the course as a whole


class Impact(str, Enum):
    """What a finding means for someone who installs the package in a fresh venv."""
    INSTALL_BREAKING = "install-breaking"  # `import` or a call fails in a fresh venv
    DEGRADED = "degraded"                  # nothing fails, but the installed package silently runs on a fallback
    POLICY = "metadata/policy"             # course metadata or conventions; the package still works


class When(str, Enum):
    """When an install-breaking failure happens: at `import tinytorch.x` (module top level, class bodies,
    decorators, default arguments, annotations evaluated at def time) or only when a function is called."""
    IMPORT = "import"
    CALL = "call"


BREAKS = Impact.INSTALL_BREAKING
DEGRADES = Impact.DEGRADED
POLICY = Impact.POLICY


@dataclass(frozen=True)
class Code:
    code: str
    severity: str
    title: str
    impact: Impact = Impact.POLICY
    # codes this one makes redundant when both are reported for one statement (same file and line):
    # one faulty statement gives one finding, the most specific
    supersedes: Tuple[str, ...] = ()
    # findings of this code on consecutive lines of one file (one import cell, one block of statements)
    # are one cause with one fix: `merge_runs` folds them into one finding listing every statement
    runs: bool = False


_CATALOGUE: Tuple[Code, ...] = (
    # TT0xx: reading the course
    Code("TT001", ERROR, "module.yaml is malformed (not YAML, not a mapping, or wrong value types)"),
    Code("TT002", ERROR, "a module source cannot be read (encoding, size, notebook JSON, no cell markers)", BREAKS),
    Code("TT003", ERROR, "syntax error in an exported cell", BREAKS),
    Code("TT004", ERROR, "module folder has no dev file named after the folder"),
    Code("TT005", WARNING, "requires-python is not declared; the oldest Python is assumed"),
    Code("TT006", ERROR, "module has no module.yaml in a course whose modules declare one"),
    Code("TT007", WARNING, "a waiver in [tool.tinytorch] waive has no reason, is malformed or matches no finding"),
    Code("TT008", WARNING, "syntax error in a non-exported cell (its inline tests cannot run)"),
    Code("TT009", ERROR, "a named pipe, socket or device in the course tree (never read; copies and builds fail)"),
    Code("TT010", ERROR, "pyproject.toml [project] is invalid for the build backend (validate-pyproject, as "
         "setuptools checks it)", BREAKS),
    Code("TT011", ERROR, "a cell too large to analyse (over the parse budget of one source file): it is not checked"),
    # TT1xx: exports and naming
    Code("TT101", ERROR, "#| default_exp does not match module.yaml exports_to", POLICY, supersedes=('TT105', 'TT106')),
    Code("TT102", ERROR, "dev file has no #| default_exp directive"),
    Code("TT103", ERROR, "dev file has more than one #| default_exp directive"),
    Code("TT104", ERROR, "export target is not a valid dotted module path inside the package", BREAKS),
    Code("TT105", ERROR, "export target is outside the allowed location (tinytorch.core by default)"),
    Code("TT106", ERROR, "export target shadows a standard-library or installed top-level module"),
    Code("TT107", ERROR, "module folder is not named NN_name"),
    Code("TT108", ERROR, "two module folders share one number"),
    Code("TT109", ERROR, "module numbers have a gap"),
    Code("TT110", ERROR, "dev file name does not match the module folder"),
    Code("TT111", ERROR, "module.yaml name does not match the module folder"),
    Code("TT112", ERROR, "two sources export to one target", BREAKS),
    Code("TT113", WARNING, "an extra source in a module folder exports code"),
    Code("TT114", ERROR, "one public name is exported by two modules"),
    Code("TT115", ERROR, "exported cell in a file with no #| default_exp target"),
    Code("TT116", WARNING, "a #| directive below code in a cell is ignored (directives must lead the cell)"),
    Code("TT117", ERROR, "paired .py and .ipynb sources export different code"),
    Code("TT118", ERROR, "a module.yaml component is not defined by the module's exported cells"),
    Code("TT119", ERROR, "two export targets differ only by case: one file overwrites the other on macOS and "
         "Windows", BREAKS),
    # TT2xx: dependencies and portability of exported code
    Code("TT201", ERROR, "exported code imports a module that module.yaml prerequisites do not declare"),
    Code("TT202", WARNING, "a declared prerequisite is never imported by exported code"),
    Code("TT203", ERROR, "a declared prerequisite names no module of the course"),
    Code("TT204", ERROR, "dependency cycle between modules", POLICY, supersedes=('TT205', 'TT201')),
    Code("TT205", ERROR, "a module depends on a module with the same or a higher number", POLICY,
         supersedes=('TT201',)),
    Code("TT206", ERROR, "exported code imports a package module that no module exports", BREAKS,
         supersedes=('TT201', 'TT205', 'TT207'), runs=True),
    Code("TT207", ERROR, "exported code imports a name the package module does not define", BREAKS, runs=True),
    Code("TT208", WARNING, "an import in a try/except ImportError fails in the installed package: it silently runs "
         "on the fallback", DEGRADES, runs=True),
    Code("TT210", ERROR, "exported code manipulates sys.path", POLICY, supersedes=('TT212',), runs=True),
    Code("TT211", ERROR, "exported code imports a dev file or the modules folder (in-tree coupling)", BREAKS,
         supersedes=('TT201', 'TT205'), runs=True),
    Code("TT212", ERROR, "exported code reads files relative to the working directory or the source tree", BREAKS),
    Code("TT220", ERROR, "exported code imports a third-party package the course dependencies do not declare", BREAKS),
    Code("TT221", WARNING, "a declared course dependency is never imported by exported code"),
    Code("TT222", WARNING, "an optional (try/except ImportError) third-party import is not declared"),
    Code("TT223", ERROR, "a dependency's environment marker excludes a Python of the matrix, but exported code "
         "imports it at load", BREAKS),
    Code("TT230", ERROR, "syntax newer than the oldest supported Python (requires-python)", BREAKS,
         supersedes=('TT003',)),
    Code("TT231", ERROR, "standard-library module or name newer than the oldest supported Python", BREAKS),
    Code("TT232", ERROR, "`X | Y` type union evaluated at run time on a Python older than 3.10", BREAKS),
    Code("TT233", ERROR, "exported cell uses a name defined only in a non-exported cell", BREAKS),
    Code("TT234", ERROR, "standard-library module removed in a supported newer Python", BREAKS),
    Code("TT235", ERROR, "Python classifiers and requires-python disagree: a Python is dropped from the matrix"),
    Code("TT236", WARNING, "the Python matrix includes a Python past its end of life"),
    # TT24x: the committed package, if one is in the tree
    Code("TT240", ERROR, "committed package file imports a package module that does not exist", BREAKS),
    Code("TT241", ERROR, "generated file names a source that does not exist"),
    # TT25x: the build configuration
    Code("TT250", ERROR, "the build configuration ships no package: setuptools packages, packages.find or "
         "package-dir leave it out", BREAKS),
    # TT26x: the course's tests
    Code("TT260", ERROR, "course tests patch the package or a dependency it uses (module or conftest level), or "
         "shadow it on sys.path"),
    Code("TT261", WARNING, "course tests patch a third-party module the package does not use, or sys.modules"),
)

CATALOGUE: Dict[str, Code] = {c.code: c for c in _CATALOGUE}


def category(code: str) -> str:
    """`Export` for reading/export/naming codes, `Dependency` for TT2xx."""
    return "Dependency" if code.startswith("TT2") else "Export"


@dataclass(frozen=True)
class Location:
    """One place that contributes to a finding (a grouped finding keeps every one, nothing is lost):
    the module and file, the line (notebook: inside `cell`), what is written there (a statement or a
    name), when it fails (import or call), the package module it ends up in (`tinytorch.core.x`) and,
    for a call-time failure, the function whose call fails (`Trainer.train`)."""
    module: str
    path: Optional[str]
    line: Optional[int]
    cell: Optional[int] = None
    what: str = ""
    when: Optional[When] = None
    target: Optional[str] = None
    scope: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"module": self.module, "path": self.path, "line": self.line, "cell": self.cell, "what": self.what,
                "when": self.when.value if self.when else None, "target": self.target, "scope": self.scope}


@dataclass
class Finding:
    code: str
    module: str                   # module key (`06_spatial`) or "course"
    path: Optional[str]           # posix path relative to the course root (or absolute outside it)
    line: Optional[int]           # 1-based line in `path`; for a notebook, the line inside `cell`
    issue: str
    fix: str
    cell: Optional[int] = None    # 1-based notebook cell, when `path` is an .ipynb
    details: List[str] = field(default_factory=list)   # evidence lines (e.g. the imports of a cycle)
    related: Tuple[str, ...] = ()  # other modules this finding concerns
    severity: str = field(init=False, default="")  # from the catalogue: fixed per code
    waived: Optional[str] = None  # the reason of the course's waiver, when one matches: it does not block
    pythons: Tuple[str, ...] = ()  # Pythons the finding concerns (TT235: the ones dropped from the matrix)
    locations: Tuple[Location, ...] = ()  # every place behind the finding (several when grouped by cause)

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise ValueError(f"unknown finding code {self.code}")
        self.severity = CATALOGUE[self.code].severity

    @property
    def title(self) -> str:
        return CATALOGUE[self.code].title

    @property
    def impact(self) -> Impact:
        return CATALOGUE[self.code].impact

    @property
    def when(self) -> Optional[When]:
        """`import` when any location fails at import time, `call` when all fail only when called,
        None when the finding does not say (metadata, or no location knows)."""
        whens = {loc.when for loc in self.locations if loc.when is not None}
        if When.IMPORT in whens:
            return When.IMPORT
        return When.CALL if whens else None

    def breaks(self) -> str:
        """What fails, for the summary: "breaks `import tinytorch.core.x`" / "breaks a call of f()"."""
        when = self.when
        if when is When.IMPORT:
            targets = sorted({loc.target for loc in self.locations if loc.when is When.IMPORT and loc.target})
            return "breaks `import " + "`, `import ".join(targets) + "`" if targets else "breaks the import"
        if when is When.CALL:
            scopes = sorted({loc.scope for loc in self.locations if loc.scope})
            more = f" and {len(scopes) - 3} more" if len(scopes) > 3 else ""
            shown = ", ".join(f"{s}()" for s in scopes[:3]) + more
            return f"breaks a call of {shown}" if scopes else "breaks a call"
        return ""

    @property
    def is_error(self) -> bool:
        """An error that blocks: waived findings never block."""
        return self.severity == ERROR and self.waived is None

    @property
    def where(self) -> str:
        if self.path is None:
            return ""
        if self.cell is not None:
            return f"{self.path} (cell {self.cell}, line {self.line})" if self.line else \
                f"{self.path} (cell {self.cell})"
        return f"{self.path}:{self.line}" if self.line else self.path

    def concerns(self, module: str) -> bool:
        return self.module == module or module in self.related

    def to_dict(self) -> Dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "module": self.module, "path": self.path,
                "line": self.line, "cell": self.cell, "issue": self.issue, "fix": self.fix,
                "details": list(self.details), "related": list(self.related), "title": self.title,
                "impact": self.impact.value, "waived": self.waived is not None, "waiver_reason": self.waived,
                "pythons": list(self.pythons), "when": self.when.value if self.when else None,
                "locations": [loc.to_dict() for loc in self.locations]}


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
    return {c.code: counts[c.code] for c in _CATALOGUE if c.code in counts}


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
    rows += [f"| {c.code} | {c.severity} | {c.impact.value} | {c.title} |" for c in _CATALOGUE]
    return "\n".join(rows)
