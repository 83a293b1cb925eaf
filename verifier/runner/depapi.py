"""The dependency-api stage: does every NumPy (or other third-party) name the exported package uses
exist in the NumPy this venv installed, and does every keyword it passes exist in that version's
signature? `np.row_stack` in a function no scenario calls imports fine and passes every scenario, then
raises AttributeError for a student on NumPy 2.5.

Two halves:
- `collect_uses` reads the installed package's files as AST (never runs them): module aliases are
  resolved statically (`import numpy as np`, `from numpy import linalg as la`, `from numpy.linalg import
  norm`) and every attribute chain rooted at one (`np.linalg.norm`) becomes a dotted name, with the
  keywords of the call it is the function of. Not checked, so never a false alarm: a use inside a `try`
  whose handler catches AttributeError (or Exception, or everything), an `if` or statement that asks
  `hasattr`/`getattr` about that module, a name the package itself assigns (`np.x = ...`,
  `setattr(np, "x", ...)`), a function where the alias name is rebound, and the standard library.
- `PROBE` runs in the venv (`python -I`), imports only the used modules (never student code) and answers
  which dotted names are missing and which keywords a signature rejects. It walks a chain only while it
  is on modules: `np.ndarray.T` checks `np.ndarray` and stops at the class; a keyword is checked only
  when `inspect.signature` works and takes no `**kwargs`. So it needs no table of NumPy history.

Each miss is mapped to the student's file:line through the export markers (runner/attribution.py).
"""
from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from ..course.pyversions import is_stdlib
from ..deps.imports import attribute_chain, handlers_catch
from ..results import FAILED, PASSED, Attribution, StageResult
from .attribution import map_line, module_of_source
from .envs import Venv, clean_env
from .processes import DEFAULT_MEMORY_MB, run

STAGE = "dependency-api"
PROBE_TIMEOUT = 120.0
REPORT_PREFIX = "TITO_API "

# Runs inside the venv (never imports the verifier nor the course package). argv: a JSON file of
# [{"dotted": "numpy.linalg.norm", "keywords": ["axis"]}, ...]. Prints one TITO_API {json} line.
PROBE = r'''
import importlib, inspect, json, sys, types, warnings
warnings.simplefilter("ignore")
uses = json.load(open(sys.argv[1], encoding="utf-8"))
roots, report = {}, {"versions": {}, "unavailable": [], "missing": {}, "keywords": {}}

def root(name):
    if name not in roots:
        try:
            roots[name] = importlib.import_module(name)
            report["versions"][name] = str(getattr(roots[name], "__version__", "") or "")
        except BaseException:
            roots[name] = None
            report["unavailable"].append(name)
    return roots[name]

for index, use in enumerate(uses):
    parts = use["dotted"].split(".")
    obj = root(parts[0])
    if obj is None:
        continue
    missing = None
    for depth in range(1, len(parts)):
        if not isinstance(obj, types.ModuleType):
            obj = None  # an attribute of a class or object: not a module attribute, not checked
            break
        try:
            found = hasattr(obj, parts[depth])
        except Exception:
            found = False
        if found:
            obj = getattr(obj, parts[depth])
            continue
        try:  # a submodule that nothing imported yet still exists
            obj = importlib.import_module(".".join(parts[:depth + 1]))
        except BaseException:
            missing = ".".join(parts[:depth + 1])
            break
    if missing is not None:
        report["missing"][str(index)] = missing
        continue
    if obj is None or not use["keywords"] or not callable(obj):
        continue
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        continue  # no signature to read (a C function of an old NumPy): not checked
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        continue
    accepted = {p.name for p in parameters if p.kind is not p.POSITIONAL_ONLY}
    rejected = [k for k in use["keywords"] if k not in accepted]
    if rejected:
        report["keywords"][str(index)] = rejected
sys.stdout.write("TITO_API " + json.dumps(report) + "\n")
'''


@dataclass(frozen=True)
class ApiUse:
    """One use of a third-party module attribute in an installed package file."""
    dotted: str                    # resolved: "numpy.row_stack"
    written: str                   # as written: "np.row_stack"
    keywords: Tuple[str, ...]      # keywords of the call this name is the function of
    file: Path                     # the installed file
    line: int                      # line in the installed file


@dataclass(frozen=True)
class ApiMiss:
    """A use the venv's library does not satisfy, mapped to the student's source."""
    use: ApiUse
    what: str                      # "`np.row_stack` does not exist" / "`np.mean` takes no keyword `keepdim`"
    library: str                   # "NumPy 2.5.5"
    source: str                    # "modules/16_mlops/mlops.py" (or the installed file when unmapped)
    source_line: int
    function: str = ""

    def describe(self, python: str) -> str:
        return f"{self.what} in {self.library} (Python {python}): {self.source}:{self.source_line}"


@dataclass
class ProbeAnswer:
    versions: Dict[str, str] = field(default_factory=dict)
    unavailable: List[str] = field(default_factory=list)
    missing: Dict[int, str] = field(default_factory=dict)         # use index -> the dotted prefix missing
    keywords: Dict[int, List[str]] = field(default_factory=dict)  # use index -> rejected keywords


# -- the static half -------------------------------------------------------------------------------
_GUARDING_ERRORS = {"AttributeError", "Exception", "BaseException"}
_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}


def _probed_names(node: ast.AST, aliases: Dict[str, str]) -> Set[str]:
    """Dotted names a `hasattr(np, "x")` / `getattr(np.linalg, "y", None)` in `node` asks about."""
    asked: Set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and \
                sub.func.id in ("hasattr", "getattr") and len(sub.args) >= 2 and \
                isinstance(sub.args[1], ast.Constant) and isinstance(sub.args[1].value, str):
            parts = attribute_chain(sub.args[0])
            if parts and parts[0] in aliases:
                asked.add(".".join([aliases[parts[0]]] + parts[1:] + [sub.args[1].value]))
    return asked


def _assigned(tree: ast.Module, aliases: Dict[str, str]) -> Set[str]:
    """Dotted names the package itself sets on a third-party module (`np.x = ...`, setattr(np, "x", ...))."""
    out: Set[str] = set()
    for node in ast.walk(tree):
        targets: List[ast.expr] = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" and \
                len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            parts = attribute_chain(node.args[0])
            if parts and parts[0] in aliases:
                out.add(".".join([aliases[parts[0]]] + parts[1:] + [node.args[1].value]))
        for target in targets:
            parts = attribute_chain(target) if isinstance(target, ast.Attribute) else None
            if parts and parts[0] in aliases:
                out.add(".".join([aliases[parts[0]]] + parts[1:]))
    return out


def _bound_names(function: ast.AST) -> Set[str]:
    """Names a function binds itself (parameters, assignments, loop targets): they shadow a module alias."""
    names: Set[str] = set()
    args = getattr(function, "args", None)
    if isinstance(args, ast.arguments):
        for arg in args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]:
            names.add(arg.arg)
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
    return names


class _Collector:
    """Walks one file: aliases per scope, guards, and the uses they leave."""

    def __init__(self, own: FrozenSet[str], file: Path, tree: ast.Module) -> None:
        self.own = own
        self.file = file
        self.tree = tree
        self.uses: List[ApiUse] = []
        aliases = self._imports(tree.body, {})
        self.exempt = _assigned(tree, aliases) | _probed_names(tree, aliases)
        # a module-level name rebound by something other than an import is not (only) the module
        rebound = {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                   for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
        self.module_aliases = {k: v for k, v in aliases.items() if k not in rebound}

    def _third_party(self, name: Optional[str], level: int) -> bool:
        return bool(name) and not level and (name or "").split(".")[0] not in self.own and not is_stdlib(name or "")

    def _imports(self, body: Sequence[ast.stmt], aliases: Dict[str, str]) -> Dict[str, str]:
        """Aliases the import statements of `body` (and of nested if/try blocks, not functions) bind."""
        out = dict(aliases)
        for node in body:
            for sub in self._shallow(node):
                if isinstance(sub, ast.Import):
                    for alias in sub.names:
                        if self._third_party(alias.name, 0):
                            if alias.asname:
                                out[alias.asname] = alias.name
                            else:
                                top = alias.name.split(".")[0]
                                out[top] = top
                elif isinstance(sub, ast.ImportFrom) and self._third_party(sub.module, sub.level):
                    for alias in sub.names:
                        if alias.name != "*":
                            out[alias.asname or alias.name] = f"{sub.module}.{alias.name}"
        return out

    @staticmethod
    def _shallow(node: ast.AST) -> Iterator[ast.AST]:
        """`node` and what it holds, without entering function or class bodies."""
        stack = [node]
        while stack:
            current = stack.pop()
            yield current
            for child in ast.iter_child_nodes(current):
                if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                    stack.append(child)

    def run(self) -> List[ApiUse]:
        self._body(self.tree.body, self.module_aliases, frozenset())
        return self.uses

    def _body(self, body: Sequence[ast.stmt], aliases: Dict[str, str], guarded: frozenset) -> None:
        for stmt in body:
            self._statement(stmt, aliases, guarded)

    def _statement(self, stmt: ast.stmt, aliases: Dict[str, str], guarded: frozenset) -> None:
        # the roots whose attributes this statement (an if: its whole body) asks hasattr/getattr about
        probe_in = stmt.test if isinstance(stmt, (ast.If, ast.While)) else stmt
        asked = frozenset(n.split(".")[0] for n in _probed_names(probe_in, aliases)) \
            if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Try)) else frozenset()
        guarded = guarded | asked
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for expr in stmt.decorator_list + stmt.args.defaults + [d for d in stmt.args.kw_defaults if d]:
                self._expression(expr, aliases, guarded)
            local = self._imports(stmt.body, {k: v for k, v in aliases.items() if k not in _bound_names(stmt)})
            self._body(stmt.body, local, guarded)
            return
        if isinstance(stmt, ast.ClassDef):
            for expr in stmt.decorator_list + stmt.bases:
                self._expression(expr, aliases, guarded)
            self._body(stmt.body, aliases, guarded)
            return
        if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            handlers = stmt.handlers  # type: ignore[attr-defined]
            catches_attribute = handlers_catch(handlers, _GUARDING_ERRORS)
            catches_import = catches_attribute or handlers_catch(handlers, _IMPORT_ERRORS)
            inside = guarded | ({"*"} if catches_attribute else {"*import"} if catches_import else set())
            self._body(stmt.body, aliases, inside)  # type: ignore[attr-defined]
            for handler in handlers:
                self._body(handler.body, aliases, guarded)
            self._body(stmt.orelse + stmt.finalbody, aliases, guarded)  # type: ignore[attr-defined]
            return
        if isinstance(stmt, ast.ImportFrom):
            if self._third_party(stmt.module, stmt.level) and not guarded & {"*", "*import"}:
                for alias in stmt.names:
                    if alias.name != "*":
                        self._add(f"{stmt.module}.{alias.name}", f"from {stmt.module} import {alias.name}",
                                  (), stmt.lineno)
            return
        # compound statements: their own expressions, then their bodies
        for _field, value in ast.iter_fields(stmt):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                self._body(value, aliases, guarded)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self._expression(item, aliases, guarded)
            elif isinstance(value, ast.AST):
                self._expression(value, aliases, guarded)

    def _expression(self, expr: ast.AST, aliases: Dict[str, str], guarded: frozenset) -> None:
        if "*" in guarded:
            return
        keywords: Dict[int, Tuple[str, ...]] = {}
        inner: Set[int] = set()
        lambdas: List[ast.Lambda] = []
        for node in ast.walk(expr):
            if isinstance(node, ast.Call):
                keywords[id(node.func)] = tuple(k.arg for k in node.keywords if k.arg)
            elif isinstance(node, ast.Attribute):
                inner.add(id(node.value))
            elif isinstance(node, ast.Lambda):
                lambdas.append(node)
        shadowed = {a.arg for lam in lambdas for a in lam.args.args + lam.args.kwonlyargs + lam.args.posonlyargs}
        for node in ast.walk(expr):
            if id(node) in inner or not isinstance(node, (ast.Attribute, ast.Name)):
                continue
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                continue
            parts = attribute_chain(node)
            if not parts or parts[0] not in aliases or parts[0] in shadowed or \
                    aliases[parts[0]].split(".")[0] in guarded:
                continue
            if len(parts) == 1 and (aliases[parts[0]].count(".") == 0 or id(node) not in keywords):
                # the bare module (`np`) is the module-imports stage's business, and a from-imported name
                # is checked at its import line; a call of it still has keywords to check
                continue
            dotted = ".".join([aliases[parts[0]]] + parts[1:])
            self._add(dotted, ".".join(parts), keywords.get(id(node), ()), getattr(node, "lineno", 0))

    def _add(self, dotted: str, written: str, keywords: Tuple[str, ...], line: int) -> None:
        if any(dotted == e or dotted.startswith(e + ".") for e in self.exempt):
            return
        self.uses.append(ApiUse(dotted, written, keywords, self.file, line))


def collect_uses(package_dir: Path, own: Iterable[str]) -> List[ApiUse]:
    """Every third-party module attribute the package's files use, unguarded (see the module doc). `own`:
    the top-level packages of the course's own distribution (the package itself ...): never third-party,
    never imported by the probe."""
    mine = frozenset(own)
    uses: List[ApiUse] = []
    for file in sorted(package_dir.rglob("*.py")):
        try:
            text = file.read_text(encoding="utf-8")
            key = (hashlib.sha256(text.encode("utf-8")).hexdigest(), mine)
            found = _USES_BY_CONTENT.get(key)
            if found is None:
                found = _USES_BY_CONTENT[key] = _Collector(mine, file, ast.parse(text, str(file))).run()
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue  # an unreadable file fails the module-imports stage, with its own message
        uses += [use if use.file == file else dataclasses.replace(use, file=file) for use in found]
    return uses


# (file text digest, own top levels) -> its uses: every Python of a run installs the same wheel, so each
# file is read as AST once per run, not once per Python; the uses then name this venv's file
_USES_BY_CONTENT: Dict[Tuple[str, FrozenSet[str]], List[ApiUse]] = {}


# -- the probe -------------------------------------------------------------------------------------
def probe(venv: Venv, uses: Sequence[ApiUse], memory_mb: int = DEFAULT_MEMORY_MB,
          timeout: float = PROBE_TIMEOUT) -> Tuple[Optional[ProbeAnswer], str]:
    """(the answer, "") or (None, why the probe gave none)."""
    here = Path(tempfile.mkdtemp(prefix="tito-api-"))
    try:
        wanted = here / "uses.json"
        wanted.write_text(json.dumps([{"dotted": u.dotted, "keywords": list(u.keywords)} for u in uses]),
                          encoding="utf-8")
        completed = run([venv.python, "-I", "-c", PROBE, str(wanted)], cwd=here,
                        env=clean_env({"HOME": str(here), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}),
                        timeout=timeout, memory_mb=memory_mb)
    finally:
        shutil.rmtree(here, ignore_errors=True)
    for line in completed.stdout.splitlines():
        if line.startswith(REPORT_PREFIX):
            try:
                raw = json.loads(line[len(REPORT_PREFIX):])
                return ProbeAnswer({str(k): str(v) for k, v in raw["versions"].items()},
                                   [str(u) for u in raw["unavailable"]],
                                   {int(k): str(v) for k, v in raw["missing"].items()},
                                   {int(k): [str(x) for x in v] for k, v in raw["keywords"].items()}), ""
            except (ValueError, KeyError, TypeError, AttributeError):
                break
    why = f"timed out after {timeout:.0f} s" if completed.timed_out else f"exit code {completed.returncode}"
    return None, f"the API probe gave no answer ({why}): {completed.tail(5)}"


_LIBRARY_NAMES = {"numpy": "NumPy", "scipy": "SciPy", "pandas": "pandas", "matplotlib": "Matplotlib"}


def _written(use: ApiUse, dotted: str) -> str:
    """The missing prefix as the student wrote it: `numpy.linalg.foo` used as `la.foo` -> `la.foo`."""
    extra = use.dotted.count(".") - dotted.count(".")
    parts = use.written.split(".")
    return ".".join(parts[:len(parts) - extra]) if extra and len(parts) > extra else use.written


def misses(uses: Sequence[ApiUse], answer: ProbeAnswer) -> List[ApiMiss]:
    """The uses the venv does not satisfy, each mapped to the student's file:line, one per place."""
    found: Dict[Tuple[str, str, int], ApiMiss] = {}
    for index, use in enumerate(uses):
        top = use.dotted.split(".")[0]
        library = f"{_LIBRARY_NAMES.get(top, top)} {answer.versions.get(top, '')}".strip()
        if index in answer.missing:
            absent = answer.missing[index]
            what = f"`{_written(use, absent)}` does not exist"
        elif index in answer.keywords:
            absent = use.dotted
            rejected = ", ".join(f"`{k}`" for k in answer.keywords[index])
            what = f"`{use.written}()` takes no keyword {rejected}"
        else:
            continue
        mapped = map_line(use.file, use.line)
        source, line, function = mapped if mapped else (str(use.file), use.line, "")
        key = (absent + what, source, line)
        found.setdefault(key, ApiMiss(use, what, library, source, line, function))
    return list(found.values())


def api_stage(venv: Venv, package_dir: Optional[Path], own: Iterable[str], python: str,
              memory_mb: int = DEFAULT_MEMORY_MB, cancelled: Optional[threading.Event] = None) -> StageResult:
    """The stage: every unguarded third-party API use of the installed package exists in this venv."""
    began = time.monotonic()
    stage = StageResult(STAGE)
    if package_dir is None or not package_dir.is_dir():
        stage.status, stage.detail = PASSED, "the package is not installed as a folder: nothing to read"
        return stage
    uses = collect_uses(package_dir, own)
    if not uses or (cancelled is not None and cancelled.is_set()):
        stage.status, stage.detail = PASSED, "the package uses no third-party module attribute"
        return stage
    answer, why = probe(venv, uses, memory_mb)
    stage.seconds = round(time.monotonic() - began, 2)
    if answer is None:
        stage.status, stage.detail = FAILED, why
        stage.fix = "re-run; the probe imports only the package's dependencies, so their install is broken"
        return stage
    found = misses(uses, answer)
    libraries = ", ".join(f"{_LIBRARY_NAMES.get(k, k)} {v}" for k, v in sorted(answer.versions.items()))
    stage.figures = {"uses": len(uses), "libraries": answer.versions, "unavailable": answer.unavailable,
                     "missing": [m.describe(python) for m in found]}
    if not found:
        stage.status = PASSED
        stage.detail = f"{len(uses)} uses of {libraries or 'no importable library'} exist in this venv"
        return stage
    stage.status = FAILED
    stage.detail = "; ".join(m.describe(python) for m in found[:3]) + (f" (and {len(found) - 3} more)"
                                                                         if len(found) > 3 else "")
    blamed = [(m, module_of_source(m.source)) for m in found]
    owned = [(module, m) for m, module in blamed if module]
    if owned:
        module, first = min(owned, key=lambda pair: (pair[0], pair[1].source_line))
        stage.attribution = Attribution(module, first.source, first.source_line, first.function,
                                        how="dependency api")
    stage.fix = ("use a name every supported version provides (or guard it with hasattr/try-except "
                 "AttributeError), or bound the dependency so this Python installs a version that has it")
    return stage
