"""Per-module findings kept between runs of `tinytorch-verifier package validate`, so that after an
edit of one module source only that module's per-module checks run again (a hook or an editor
validates after every save; the other sixteen modules did not change).

Only checks whose findings for a module are a function of that module's own source text and of a few
course-wide values named in the key (the oldest supported Python, the package name, the module folder
names) are kept here; every course-wide check (graph, conflicts, imports across modules, names, the
package tree, the matrix, metadata) runs on every run. The key is the SHA-256 of: the entry format, the
check's name and its own inputs, the verifier's code (cache.verifier_digest), the running Python, the
installed jupytext (it may split the cells), the module and the source's path, and the source's bytes.

An entry is a JSON file in the verifier's cache folder (never in the course tree), written atomically
(cache.store_result). It holds its own key: an entry that is unreadable, malformed or written for
another key (a copied or foreign file) is ignored and the findings are computed again.
`TITO_VALIDATE_CACHE=0` turns this cache and the output cache (output_cache.py) off.
"""
from __future__ import annotations

import dataclasses
import hashlib
import sys
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional, Sequence

from ..course.analysis import ModuleSource
from .findings import Finding

if TYPE_CHECKING:
    from ..course.analysis import ParsedCell
    from ..course.discovery import CourseModule
    from .context import CheckContext, Emitter

ENTRY_FORMAT = 1  # bump when what an entry holds changes meaning
KIND = "validate-module"


def _key(check: str, item: ModuleSource, inputs: Sequence[str]) -> Optional[str]:
    """The entry's key, or None when the source cannot be read again (then nothing is cached)."""
    from ..cache import installed_fingerprint, verifier_digest

    try:
        content = item.path.read_bytes()
    except OSError:
        return None
    parts = [str(ENTRY_FORMAT), check, *inputs, verifier_digest(), sys.version,
             installed_fingerprint("jupytext") or "", item.module.key, item.rel, str(item.path),
             hashlib.sha256(content).hexdigest()]
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _finding_to_json(finding: Finding) -> Any:
    return dataclasses.asdict(finding)  # `when` is a str enum: JSON writes its value


def _groups_from_json(raw: Any, key: str, groups: int) -> Optional[List[List[Finding]]]:
    """The entry's findings, or None when it is not an entry of this key in this format."""
    from ..findingmodel import finding_from_json

    if not isinstance(raw, dict) or raw.get("key") != key or not isinstance(raw.get("groups"), list) \
            or len(raw["groups"]) != groups:
        return None
    try:
        return [[finding_from_json(item) for item in group] for group in raw["groups"]]
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


def module_findings(check: str, item: ModuleSource, inputs: Sequence[str], groups: int,
                    compute: Callable[[], List[List[Finding]]]) -> List[List[Finding]]:
    """`compute()` (a fixed number of finding lists for one module source), or the lists kept for the
    same key. `inputs` are the course-wide values the check reads besides the source (as text)."""
    from ..cache import validate_cache_enabled

    key = _key(check, item, inputs) if validate_cache_enabled() else None
    if key is None:
        return compute()
    from ..cache import load_result, result_file, store_result

    path = result_file(KIND, key)
    kept = _groups_from_json(load_result(path), key, groups)
    if kept is not None:
        return kept
    found = compute()
    store_result(path, {"key": key, "groups": [[_finding_to_json(f) for f in group] for group in found]})
    return found


def per_module(ctx: "CheckContext", check: str, inputs: Sequence[str], codes: frozenset,
               walk: Callable[["CheckContext", "Emitter", "CourseModule", ModuleSource, List["ParsedCell"]], None]
               ) -> Iterator[Finding]:
    """The findings of a check family that reads one module source (and `inputs`) at a time:
    `walk(ctx, out, module, item, exported)` emits them for one source, and they are reused while the
    source and `inputs` are unchanged (after an edit of another module its cells are not walked again)."""
    from .context import Emitter

    for module, item, exported in ctx.dev_sources():
        def compute(module: "CourseModule" = module, item: ModuleSource = item,
                    exported: List["ParsedCell"] = exported) -> List[List[Finding]]:
            out = Emitter(codes)
            walk(ctx, out, module, item, exported)
            return [out.findings]
        yield from module_findings(check, item, inputs, 1, compute)[0]
