"""What the fork servers of one Python (runner/imports.py SERVER, runner/forkserver.py) import before
they fork: the modules outside the course package that the installed package's own modules import when
they are imported — read statically from the installed .py files (nothing is imported or run here).

Only what an import of the package executes is kept: an absolute `import x.y` / `from x.y import z` at
module level (also inside a module-level if/for/with/class body), never one inside a function (a lazy
import runs only when called), under `if TYPE_CHECKING:` or in a try/except ImportError (it may fail or
be a dev-time fallback), never a relative import nor one of the course's own distribution (the package
itself, or another top-level package its wheel ships: their code must run fresh in every child). A child forked after
these imports still runs every course module's code fresh; an imported-but-unused module is harmless,
and one that cannot be imported is skipped by the server (the course module that needs it fails in its
own child, as alone).
"""
from __future__ import annotations

import ast
import hashlib
import threading
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from ..deps.imports import extract_imports

_known: Dict[str, Tuple[str, ...]] = {}   # digest of the package's files -> their preload (one per run, not per Python)
_lock = threading.Lock()


def module_preload(source: bytes, package: str, own: Iterable[str] = ()) -> List[str]:
    """The modules outside `package` (and the other top-level packages of `own`) that importing this source
    imports, in the order written."""
    mine = {package, *own}
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []  # the module fails in its own probe; nothing to share
    wanted = []
    for found in extract_imports(tree, dynamic=False, package=package):
        if found.level or found.in_function or found.guarded or found.fallback or not found.name:
            continue
        if found.name.split(".")[0] not in mine and found.name not in wanted:
            wanted.append(found.name)
    return wanted


def package_preload(site_packages: Optional[str], package: str, own: Iterable[str] = ()) -> Tuple[str, ...]:
    """The preload for the installed `package` under `site_packages`; () when it is not a folder there.
    `own`: the other top-level packages of the course's distribution (checks._thirdparty.own_top_levels), never
    preloaded. Every Python installs the same wheel, so the files are parsed once per content."""
    mine = sorted({package, *own})
    folder = Path(site_packages) / package if site_packages else None
    if folder is None or not folder.is_dir():
        return ()
    files = sorted(folder.rglob("*.py"))
    sources = []
    digest = hashlib.sha256("\0".join([package, *mine]).encode())
    for path in files:
        try:
            text = path.read_bytes()
        except OSError:
            continue
        sources.append(text)
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + text + b"\0")
    key = digest.hexdigest()
    with _lock:
        if key in _known:
            return _known[key]
    wanted: List[str] = []
    for text in sources:
        wanted.extend(name for name in module_preload(text, package, mine) if name not in wanted)
    with _lock:
        _known[key] = tuple(wanted)
    return tuple(wanted)
