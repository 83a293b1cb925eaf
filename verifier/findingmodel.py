"""The finding model every layer speaks: the catalogue of codes, a `Finding` and the `Location`s behind it.

The static checks (checks/) make findings, the pipeline puts them in the verify result, the gate and
the renderers read them as these objects. JSON is their form only at the edge: `VerifyResult.to_json`
writes them (dataclasses.asdict, the report's long-standing layout) and `finding_from_json` reads them
back when a report file is opened. It sits at the bottom of the layers, beside results.py, so the result
model can hold typed findings; it runs nothing and imports nothing of the verifier.

The catalogue below is the single list of codes; docs/validation.md documents it for users.
"""
from __future__ import annotations

import typing
from dataclasses import MISSING, dataclass, field, fields
from enum import Enum
from typing import Any, Dict, List, Mapping, Optional, Tuple

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


def json_kind(value: Any) -> str:
    """How an error names a JSON value's type: "text", "a number", "a list", ..."""
    if value is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


# (field, its type, required in the JSON) of the records a report stores, read by `_record`: a list or tuple
# field is a JSON list; an optional field that is absent or null takes the dataclass's default, or None
_LOCATION_FIELDS: Tuple[Tuple[str, Any, bool], ...] = (
    ("module", str, True), ("path", str, False), ("line", int, False), ("cell", int, False), ("what", str, False),
    ("when", When, False), ("target", str, False), ("scope", str, False))
_FINDING_FIELDS: Tuple[Tuple[str, Any, bool], ...] = (
    ("code", str, True), ("module", str, True), ("path", str, False), ("line", int, False), ("issue", str, True),
    ("fix", str, True), ("cell", int, False), ("details", List[str], False), ("related", Tuple[str, ...], False),
    ("waived", str, False), ("pythons", Tuple[str, ...], False), ("locations", Tuple[Location, ...], False))
_WHEN_VALUES = tuple(member.value for member in When)


def _record(cls: Any, specs: Tuple[Tuple[str, Any, bool], ...], raw: Any, where: str) -> Any:
    """The dataclass `cls` from its JSON object `raw`, field by field as `specs` says; a ValueError of one line
    naming the field (`where` + name) when one is missing or of another type."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where.rstrip('.') or 'it'}: expected an object, found {json_kind(raw)}")
    defaulted = _DEFAULTED[cls]
    values: Dict[str, Any] = {}
    for name, kind, required in specs:
        value = raw.get(name)
        if value is None:
            if required:
                raise ValueError(f"{where}{name}: missing")
            if name not in defaulted:
                values[name] = None
        else:  # text and numbers are stored as they are: only the other values need reading
            values[name] = value if type(value) is kind else _value(value, kind, where + name)
    return cls(**values)


def _value(value: Any, kind: Any, where: str) -> Any:
    """A JSON value that is not of the field's type as it stands: a list, a location, a `when`, or a mistake."""
    sequence, item = _SEQUENCES.get(kind, (None, None))
    if sequence and isinstance(value, list):
        return sequence(element if type(element) is item else _value(element, item, f"{where}[{index}]")
                        for index, element in enumerate(value))
    if kind is Location:
        return _record(Location, _LOCATION_FIELDS, value, f"{where}.")
    if kind is When:
        if value not in _WHEN_VALUES:
            raise ValueError(f"{where}: {value!r} is not one of {', '.join(_WHEN_VALUES)}")
        return When(value)
    expected = "a list" if sequence else "a whole number" if kind is int else json_kind(kind())
    raise ValueError(f"{where}: expected {expected}, found {json_kind(value)}")  # (JSON true/false is no number)


_SEQUENCES = {kind: (typing.get_origin(kind), typing.get_args(kind)[0])  # List[str] -> (list, str), made once
              for _, kind, _ in _FINDING_FIELDS + _LOCATION_FIELDS if typing.get_origin(kind) in (list, tuple)}
_DEFAULTED = {cls: {spec.name for spec in fields(cls) if spec.default is not MISSING
                    or spec.default_factory is not MISSING} for cls in (Location, Finding)}


def location_from_json(raw: Mapping[str, Any], where: str = "") -> Location:
    """A location as a report stores it (`when` is its value); a wrong field is a one-line ValueError."""
    return _record(Location, _LOCATION_FIELDS, raw, where)


def finding_from_json(raw: Mapping[str, Any], where: str = "") -> Finding:
    """A finding as a verify report stores it (`dataclasses.asdict` of a Finding: `waived` is the waiver's
    reason or null). The severity is the catalogue's, never the file's. A missing field, one of the wrong type
    or an unknown code is a ValueError of one line naming it (`where` + field: `findings[3].line: ...`)."""
    code = raw.get("code") if isinstance(raw, dict) else None
    if isinstance(code, str) and code not in CATALOGUE:
        raise ValueError(f"{where}code: {code!r} is not a finding code this verifier knows (a newer verifier's?)")
    return _record(Finding, _FINDING_FIELDS, raw, where)
