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
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

ERROR = "error"
WARNING = "warning"
COURSE = "course"  # the module key of findings about the course as a whole


@dataclass(frozen=True)
class Code:
    code: str
    severity: str
    title: str


_CATALOGUE: Tuple[Code, ...] = (
    # TT0xx: reading the course
    Code("TT001", ERROR, "module.yaml is malformed (not YAML, not a mapping, or wrong value types)"),
    Code("TT002", ERROR, "a module source cannot be read (encoding, size, notebook JSON, no cell markers)"),
    Code("TT003", ERROR, "syntax error in an exported cell"),
    Code("TT004", ERROR, "module folder has no dev file named after the folder"),
    Code("TT005", WARNING, "requires-python is not declared; the oldest Python is assumed"),
    Code("TT006", ERROR, "module has no module.yaml in a course whose modules declare one"),
    Code("TT008", WARNING, "syntax error in a non-exported cell (its inline tests cannot run)"),
    # TT1xx: exports and naming
    Code("TT101", ERROR, "#| default_exp does not match module.yaml exports_to"),
    Code("TT102", ERROR, "dev file has no #| default_exp directive"),
    Code("TT103", ERROR, "dev file has more than one #| default_exp directive"),
    Code("TT104", ERROR, "export target is not a valid dotted module path inside the package"),
    Code("TT105", ERROR, "export target is outside the allowed location (tinytorch.core by default)"),
    Code("TT106", ERROR, "export target shadows a standard-library or installed top-level module"),
    Code("TT107", ERROR, "module folder is not named NN_name"),
    Code("TT108", ERROR, "two module folders share one number"),
    Code("TT109", ERROR, "module numbers have a gap"),
    Code("TT110", ERROR, "dev file name does not match the module folder"),
    Code("TT111", ERROR, "module.yaml name does not match the module folder"),
    Code("TT112", ERROR, "two sources export to one target"),
    Code("TT113", WARNING, "an extra source in a module folder exports code"),
    Code("TT114", ERROR, "one public name is exported by two modules"),
    Code("TT115", ERROR, "exported cell in a file with no #| default_exp target"),
    Code("TT116", WARNING, "a #| directive below code in a cell is ignored (directives must lead the cell)"),
    Code("TT117", ERROR, "paired .py and .ipynb sources export different code"),
    Code("TT118", ERROR, "a module.yaml component is not defined by the module's exported cells"),
    # TT2xx: dependencies and portability of exported code
    Code("TT201", ERROR, "exported code imports a module that module.yaml prerequisites do not declare"),
    Code("TT202", WARNING, "a declared prerequisite is never imported by exported code"),
    Code("TT203", ERROR, "a declared prerequisite names no module of the course"),
    Code("TT204", ERROR, "dependency cycle between modules"),
    Code("TT205", ERROR, "a module depends on a module with the same or a higher number"),
    Code("TT206", ERROR, "exported code imports a package module that no module exports"),
    Code("TT207", ERROR, "exported code imports a name the package module does not define"),
    Code("TT210", ERROR, "exported code manipulates sys.path"),
    Code("TT211", ERROR, "exported code imports a dev file or the modules folder (in-tree coupling)"),
    Code("TT212", ERROR, "exported code reads files relative to the working directory or the source tree"),
    Code("TT220", ERROR, "exported code imports a third-party package the course dependencies do not declare"),
    Code("TT221", WARNING, "a declared course dependency is never imported by exported code"),
    Code("TT222", WARNING, "an optional (try/except ImportError) third-party import is not declared"),
    Code("TT230", ERROR, "syntax newer than the oldest supported Python (requires-python)"),
    Code("TT231", ERROR, "standard-library module or name newer than the oldest supported Python"),
    Code("TT232", ERROR, "`X | Y` type union evaluated at run time on a Python older than 3.10"),
    Code("TT233", ERROR, "exported cell uses a name defined only in a non-exported cell"),
    Code("TT234", ERROR, "standard-library module removed in a supported newer Python"),
    # TT24x: the committed package, if one is in the tree
    Code("TT240", ERROR, "committed package file imports a package module that does not exist"),
    Code("TT241", ERROR, "generated file names a source that does not exist"),
)

CATALOGUE: Dict[str, Code] = {c.code: c for c in _CATALOGUE}


def category(code: str) -> str:
    """`Export` for reading/export/naming codes, `Dependency` for TT2xx."""
    return "Dependency" if code.startswith("TT2") else "Export"


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

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise ValueError(f"unknown finding code {self.code}")
        self.severity = CATALOGUE[self.code].severity

    @property
    def title(self) -> str:
        return CATALOGUE[self.code].title

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

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
                "details": list(self.details), "related": list(self.related), "title": self.title}


def count(findings: Iterable[Finding]) -> Dict[str, int]:
    counts = {ERROR: 0, WARNING: 0}
    for finding in findings:
        counts[finding.severity] += 1
    return counts


def render_text(findings: Sequence[Finding], module_order: Sequence[str] = (),
                summary: str = "", notes: Sequence[str] = ()) -> str:
    """Group findings by module and category, in the form students know."""
    order = {key: i for i, key in enumerate(module_order)}
    groups: Dict[Tuple[str, str], List[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.module, category(finding.code)), []).append(finding)

    def rank(item: Tuple[str, str]) -> Tuple[int, str, str]:
        module, cat = item
        return (order.get(module, len(order) + (1 if module == COURSE else 0)), module, cat)

    out: List[str] = []
    for note in notes:
        out.append(f"Note: {note}")
    if notes:
        out.append("")
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
    if summary:
        out.append(summary)
    return "\n".join(out).rstrip() + "\n"


def render_json(payload: Dict[str, Any], findings: Sequence[Finding]) -> str:
    data = dict(payload)
    data["counts"] = count(findings)
    data["findings"] = [f.to_dict() for f in findings]
    return json.dumps(data, indent=2) + "\n"


def catalogue_table() -> str:
    """The catalogue as a Markdown table (docs/validation.md is checked against it in the tests)."""
    rows = ["| code | severity | meaning |", "|---|---|---|"]
    rows += [f"| {c.code} | {c.severity} | {c.title} |" for c in _CATALOGUE]
    return "\n".join(rows)
