"""Course tests that patch what they test (TT260 error, TT261 warning).

A `tests/conftest.py` with `np.row_stack = np.vstack` makes the course's tests pass against a NumPy no
student has, and `sys.modules["tinytorch.core.x"] = stub` or a folder of stale copies put first on
sys.path makes them test something other than the wheel. Read as AST (never run), in the course's
`tests/` folder: every `conftest.py` (anywhere in it: module level, hooks, fixtures — a conftest runs
for every test) and every test module (`test_*.py`, `*_test.py`) at module level (not inside a test
function or fixture, not under `if __name__ == "__main__":`). One finding per statement, at its line:

- an attribute assigned or deleted on a module or name imported from the package or from a third-party
  module (`np.row_stack = ...`, `tinytorch.core.losses.mse = ...`, `Tensor.__add__ = ...`,
  `setattr(np, "x", ...)`, `delattr(...)`): TT260 when it is the package (or another top-level package
  of the course's distribution) or a dependency the package imports or declares, else TT261;
- an entry of `sys.modules` set, updated or deleted (`sys.modules["numpy"] = ...`,
  `sys.modules.update(...)`): TT260 for the package or such a dependency, TT261 for anything else;
- a `sys.path` edit that statically resolves to a folder inside `tests/` holding a package or module
  named like the package or such a dependency (a stale copy that shadows the wheel): TT260.

A `monkeypatch.setattr/delattr/setitem(sys.modules, ...)/syspath_prepend` inside an autouse fixture of a
conftest counts like the statement it stands for: undone after each test, but redone before every one.

Not findings, by design: the `monkeypatch` fixture and `unittest.mock.patch` in a fixture a test asks for
by name or in a test (scoped to that test and undone after it: ordinary pytest practice); anything
inside a test module's functions; item assignment (`plt.rcParams["x"] = ...`) and calls
(`np.random.seed(0)`, `matplotlib.use("Agg")`), which configure a library rather than replace its code;
the standard library; and `sys.path` edits that put the project root or module folders first — whether
the tests then import the wheel is checked at run time by the
course-tests stage (the test-origin check), which sees what a path really resolves to.
"""
from __future__ import annotations

import ast
import sys
from collections import deque
from pathlib import Path
from typing import Deque, Dict, Iterator, List, Mapping, Optional, Set, Tuple

from ..course.analysis import relative
from ..course.pyversions import is_stdlib
from ..deps.imports import attribute_chain
from ._thirdparty import IMPORT_TO_DIST, declared_dists, norm_dist, own_top_levels
from .context import CheckContext, Emitter
from .findings import COURSE, Finding

CODES = frozenset({"TT260", "TT261"})
MAX_TEST_FILE = 2 * 1024 * 1024


def test_files(tests: Path) -> Iterator[Path]:
    for path in sorted(tests.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        name = path.name
        if name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py"):
            yield path


# the nodes that hold statements; `match` cases exist from Python 3.10 (the verifier runs on 3.9 too)
_STATEMENT_HOLDERS = tuple(getattr(ast, name) for name in ("stmt", "excepthandler", "match_case") if hasattr(ast, name))


def _walk_statements(tree: ast.Module) -> Iterator[ast.AST]:
    """`ast.walk` restricted to the nodes that hold statements (an import is a statement, and no
    expression holds one): the same nodes in the same breadth-first order, without visiting the
    expressions that make up most of a test file."""
    queue: Deque[ast.AST] = deque([tree])
    while queue:
        node = queue.popleft()
        yield node
        queue.extend(child for child in ast.iter_child_nodes(node)
                     if isinstance(child, _STATEMENT_HOLDERS))


def _aliases(tree: ast.Module) -> Dict[str, str]:
    """Local name -> dotted name, from every absolute import of the file."""
    out: Dict[str, str] = {}
    for node in _walk_statements(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return out


class _Aliases(Mapping[str, str]):
    """`_aliases(tree)`, computed on first use: walking a whole test file for its imports is most of
    this check's time, and a test module whose module-level statements patch nothing never needs it."""

    def __init__(self, tree: ast.Module) -> None:
        self._tree = tree
        self._names: Optional[Dict[str, str]] = None

    @property
    def _map(self) -> Dict[str, str]:
        if self._names is None:
            self._names = _aliases(self._tree)
        return self._names

    def __getitem__(self, name: str) -> str:
        return self._map[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)


def _shown(node: ast.AST) -> str:
    """The statement as the finding quotes it (unparsed only for a statement that is reported)."""
    return ast.unparse(node).splitlines()[0][:120]


def _statements(tree: ast.Module, conftest: bool) -> Iterator[ast.AST]:
    """The nodes that run when pytest loads the file: for a conftest everything; for a test module the
    module level (and class bodies), not functions, not `if __name__ == "__main__":`."""
    if conftest:
        yield from ast.walk(tree)
        return
    stack: List[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and "__name__" in ast.dump(node.test) and "__main__" in ast.dump(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve_path(node: ast.expr, here: Path) -> Optional[Path]:
    """A folder a sys.path expression names, when it is built from `__file__` with os.path or pathlib."""
    if isinstance(node, ast.Name) and node.id == "__file__":
        return here
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return Path(node.value)
    if isinstance(node, ast.Call):
        func = attribute_chain(node.func) if isinstance(node.func, (ast.Attribute, ast.Name)) else None
        name = ".".join(func) if func else ""
        args = [_resolve_path(a, here) for a in node.args]
        if name in ("str", "Path", "pathlib.Path", "os.path.abspath", "os.path.realpath", "os.path.normpath") \
                and len(args) == 1:
            return args[0]
        if name == "os.path.dirname" and len(args) == 1 and args[0] is not None:
            return args[0].parent
        if name in ("os.path.join", "Path", "pathlib.Path") and args and all(a is not None for a in args):
            joined = args[0]
            for part in args[1:]:
                joined = joined / part  # type: ignore[operator]
            return joined
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("resolve", "absolute") and not node.args:
            return _resolve_path(node.func.value, here)
        return None
    if isinstance(node, ast.Attribute) and node.attr == "parent":
        inner = _resolve_path(node.value, here)
        return inner.parent if inner is not None else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left, right = _resolve_path(node.left, here), _resolve_path(node.right, here)
        return left / right if left is not None and right is not None else None
    return None


class _TestPatches:
    def __init__(self, ctx: CheckContext, out: Emitter) -> None:
        self.ctx = ctx
        self.out = out
        self.own = own_top_levels(ctx.course)
        # the dependencies the package uses: third-party tops its exported code imports, and declared ones
        self.used: Set[str] = {ref.top for refs in ctx.graph.refs.values() for ref in refs
                               if (r := ctx.graph.resolutions.get(ref)) is not None and r.kind == "thirdparty"
                               and not ref.fallback}
        for dist in declared_dists(ctx.course):
            self.used.add(norm_dist(dist).replace("-", "_"))
            self.used.update(m for m, providers in IMPORT_TO_DIST.items()
                             if norm_dist(dist) in {norm_dist(p) for p in providers})

    def _kind(self, top: str) -> Tuple[Optional[str], str]:
        """(code, what it is) for a patched top-level module; (None, "") when it is not judged."""
        if top in self.own:
            return "TT260", f"the package {top}"
        if top in self.used:
            return "TT260", f"{top}, a dependency the package uses"
        if is_stdlib(top) or top == "__future__":
            return None, ""
        return "TT261", f"{top}, a third-party module the package does not use"

    def file(self, path: Path) -> None:
        try:
            if path.stat().st_size > MAX_TEST_FILE:
                return
            candidates = _cached_candidates(path.read_text(encoding="utf-8"), path)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            return  # pytest reports an unreadable test file itself
        rel = relative(path, self.ctx.course.root)
        conftest = path.name == "conftest.py"
        where = "conftest.py (runs for every test)" if conftest else "at module level (runs when pytest collects it)"
        for line, text, patched, kind in candidates:
            top = patched or ""
            if kind == "sys.path":  # what the added folder holds is looked at now, never cached
                shadow = self._shadows(Path(patched)) if patched is not None else None
                if not shadow:
                    continue
                top = f"{shadow} with a copy inside tests/ ({relative(Path(top), self.ctx.course.root)})"
            code: Optional[str]
            if kind == "sys.path":
                code, what = "TT260", top
            elif kind == "sys.modules" and not top:
                code, what = "TT261", "sys.modules (an entry the verifier cannot name statically)"
            else:
                code, what = self._kind(top)
            if code is None:
                continue
            if code == "TT260":
                issue = (f"the course tests patch {what}: `{text}` {where} — they test the patched code, not "
                         f"what a student installs")
            else:
                issue = f"the course tests patch {what}: `{text}` {where}"
            self.out.add(code, COURSE, rel, line, issue,
                         "remove the patch and fix the package so its tests pass without it; a test that must "
                         "replace something uses the `monkeypatch` fixture inside that test (undone after it)")

    def _shadows(self, folder: Optional[Path]) -> Optional[str]:
        """The package or dependency a folder inside tests/ holds a copy of (it would shadow the wheel)."""
        if folder is None:
            return None
        tests = (self.ctx.course.root / "tests").resolve()
        try:
            resolved = folder.resolve()
            resolved.relative_to(tests)
        except (OSError, ValueError):
            return None
        if not resolved.is_dir():
            return None
        for name in sorted(self.own | self.used):
            if (resolved / name / "__init__.py").is_file() or (resolved / f"{name}.py").is_file():
                return "the package" if name in self.own else f"{name}, a dependency the package uses"
        return None


Candidate = Tuple[int, str, Optional[str], str]
CANDIDATES_FORMAT = 2  # bump when what _candidates returns changes


def _patches(node: ast.AST, aliases: Mapping[str, str], path: Path) -> Iterator[Candidate]:
    """(line, statement, patched top-level module, kind) for each patch `node` makes; for a sys.path edit
    the third item is the folder it adds (None when it cannot be resolved statically)."""
    line = getattr(node, "lineno", 0)
    if not isinstance(node, (ast.Assign, ast.Delete, ast.AugAssign, ast.AnnAssign, ast.Call)):
        return
    targets: List[ast.expr] = []
    if isinstance(node, (ast.Assign, ast.Delete)):
        targets = list(node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    for target in targets:
        for element in (target.elts if isinstance(target, ast.Tuple) else [target]):
            if isinstance(element, ast.Attribute):
                parts = attribute_chain(element)
                if parts and parts[0] in aliases and aliases[parts[0]].split(".")[0] != "sys":
                    yield line, _shown(node), aliases[parts[0]].split(".")[0], "attribute"
            elif isinstance(element, ast.Subscript) and _is_sys(element.value, "modules", aliases):
                key = element.slice.value if isinstance(element.slice, ast.Constant) else None
                yield line, _shown(node), str(key).split(".")[0] if isinstance(key, str) else "", "sys.modules"
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and node.args:
            parts = attribute_chain(node.args[0])
            if parts and parts[0] in aliases and aliases[parts[0]] != "sys":
                yield line, _shown(node), aliases[parts[0]].split(".")[0], "attribute"
        elif isinstance(func, ast.Attribute) and _is_sys(func.value, "modules", aliases) and \
                func.attr in ("update", "setdefault", "pop", "__setitem__", "clear"):
            first = node.args[0] if node.args else None
            key = first.value if isinstance(first, ast.Constant) else None
            if isinstance(first, ast.Dict):
                keys = [k.value for k in first.keys if isinstance(k, ast.Constant)]
                key = keys[0] if keys else None
            yield line, _shown(node), str(key).split(".")[0] if isinstance(key, str) else "", "sys.modules"
        elif isinstance(func, ast.Attribute) and _is_sys(func.value, "path", aliases) and \
                func.attr in ("insert", "append", "extend") and node.args:
            added = _resolve_path(node.args[-1], path)
            yield line, _shown(node), str(added) if added is not None else None, "sys.path"


def _autouse(function: ast.AST) -> bool:
    """`@pytest.fixture(autouse=True)` (any spelling of the decorator that passes autouse=True)."""
    return isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
        isinstance(d, ast.Call) and any(k.arg == "autouse" and isinstance(k.value, ast.Constant) and k.value.value
                                        for k in d.keywords) for d in function.decorator_list)


def _monkeypatches(function: ast.AST, aliases: Mapping[str, str], path: Path) -> Iterator[Candidate]:
    """The patches an autouse fixture makes through its `monkeypatch` argument, as `_patches` reports them."""
    names = {a.arg for a in function.args.args} if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) \
        else set()
    if "monkeypatch" not in names:
        return
    for node in ast.walk(function):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "monkeypatch"):
            continue
        first, line, method = node.args[0], node.lineno, node.func.attr
        if method in ("setattr", "delattr"):
            if isinstance(first, ast.Constant) and isinstance(first.value, str):  # monkeypatch.setattr("numpy.x", v)
                yield line, _shown(node), first.value.split(".")[0], "attribute"
                continue
            parts = attribute_chain(first)
            if parts and parts[0] in aliases and aliases[parts[0]] != "sys":
                yield line, _shown(node), aliases[parts[0]].split(".")[0], "attribute"
        elif method in ("setitem", "delitem") and _is_sys(first, "modules", aliases):
            key = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else None
            yield line, _shown(node), str(key).split(".")[0] if isinstance(key, str) else "", "sys.modules"
        elif method == "syspath_prepend":
            added = _resolve_path(first, path)
            yield line, _shown(node), str(added) if added is not None else None, "sys.path"


def _is_sys(node: ast.expr, attr: str, aliases: Mapping[str, str]) -> bool:
    parts = attribute_chain(node)
    return parts is not None and len(parts) == 2 and aliases.get(parts[0]) == "sys" and parts[1] == attr


def _candidates(text: str, path: Path) -> List[Candidate]:
    """Every statement of a test file that runs when pytest loads it and patches something — read from
    the text and the file's place alone (what it patches is judged against the course afterwards)."""
    tree = ast.parse(text, str(path))
    aliases = _Aliases(tree)
    conftest = path.name == "conftest.py"
    found = [hit for node in _statements(tree, conftest) for hit in _patches(node, aliases, path)]
    if conftest:
        found += [hit for node in ast.walk(tree) if _autouse(node) for hit in _monkeypatches(node, aliases, path)]
    return sorted(found, key=lambda hit: hit[0])


def _cached_candidates(text: str, path: Path) -> List[Candidate]:
    """`_candidates`, kept in the cache folder by content hash: parsing the course's test files is most
    of this check's time, and a hook or an editor validates the same unchanged tests again and again.
    The key holds the path (sys.path edits resolve against it) and the running Python (its grammar)."""
    from ..cache import load_result, result_file, store_result

    cache = result_file("test-patches", str(CANDIDATES_FORMAT), sys.version, str(path), text)
    cached = load_result(cache)
    if isinstance(cached, list):
        return [(line, shown, top, kind) for line, shown, top, kind in cached]
    found = _candidates(text, path)  # a file that does not parse raises, and is parsed again next time
    store_result(cache, found)
    return found


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    tests = ctx.course.root / "tests"
    if tests.is_dir():
        patches = _TestPatches(ctx, out)
        for path in test_files(tests):
            patches.file(path)
    yield from out
