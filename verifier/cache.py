"""The verifier's cache folder, outside every course tree: `$TITO_CACHE`, else `$XDG_CACHE_HOME`,
else `~/.cache`, then `tinytorch-verifier/`. What lives there can always be rebuilt (jupytext's cell
split of a source, keyed by the text's hash; the dependency venvs of runner/depvenvs.py), so a read-only or
missing home only makes the verifier slower, never wrong. A cache setting that cannot hold a folder
(XDG_CACHE_HOME naming a file, a read-only parent) is one warning line, and this run caches in a
temporary folder of its own, removed when it ends.

Results computed from text alone are kept here too, by content hash (result_file / load_result /
store_result below; cached_by_content wraps them for a value computed from one text), so that a run over
files that did not change imports no heavy library and parses nothing again."""
from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Tuple, TypeVar

T = TypeVar("T")

_session_folder: Optional[Path] = None  # the temporary stand-in, made at most once per process


def _configured() -> Tuple[str, Path]:
    """(where the setting came from, the base folder) — the first of TITO_CACHE, XDG_CACHE_HOME, ~/.cache."""
    for variable in ("TITO_CACHE", "XDG_CACHE_HOME"):
        if os.environ.get(variable):
            return variable, Path(os.environ[variable])
    return "the default, ~/.cache", Path.home() / ".cache"


def unusable_reason(folder: Path) -> Optional[str]:
    """Why `folder` cannot be (made into) a writable folder, or None when it can."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        if existing.is_symlink():
            return f"{existing} is a broken symbolic link"
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def cache_dir() -> Path:
    global _session_folder
    source, base = _configured()
    folder = base / "tinytorch-verifier"
    reason = unusable_reason(folder)
    if reason is None:
        return folder
    if _session_folder is None:
        import atexit  # only this fallback needs them (every command imports this module)
        import shutil
        import tempfile

        _session_folder = Path(tempfile.mkdtemp(prefix="tito-cache-"))
        atexit.register(shutil.rmtree, str(_session_folder), True)
        print(f"tinytorch-verifier: warning: cannot cache in {folder} (set by {source}): {reason} — caching in a "
              f"temporary folder for this run only; point TITO_CACHE or XDG_CACHE_HOME at a folder", file=sys.stderr)
    return _session_folder


# ------------------------------------------------------------------ results kept by content hash
# What a check computes from text alone (jupytext's cell split, validate-pyproject's verdict on a
# [project] table) is kept as a small JSON file named by the hash of its inputs and of the library that
# computed it. A hook or an editor runs `tinytorch-verifier package validate` again and again on files that did not
# change; a warm cache lets it skip importing those libraries at all (tests/unit/test_import_graph.py).


@functools.lru_cache(maxsize=None)  # once per process: what is installed does not change under a run
def installed_fingerprint(import_name: str) -> Optional[str]:
    """Which installed copy of a top-level package this is, WITHOUT importing it (importing is the cost
    the cache saves): where it lives, the names of its dist-info folders (they carry the version) and
    the size and time of its __init__. None when it is not installed."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    origin = Path(spec.origin)
    site = origin.parent.parent if origin.name == "__init__.py" else origin.parent
    prefix = import_name.lower().replace("-", "_") + "-"
    try:
        dists = sorted(name for name in os.listdir(site)
                       if name.lower().replace("-", "_").startswith(prefix) and name.endswith(".dist-info"))
        info = origin.stat()
    except OSError:
        return None
    return f"{origin}\0{','.join(dists)}\0{info.st_size}:{info.st_mtime_ns}"


@functools.lru_cache(maxsize=None)  # once per process: the running code does not change under a run
def verifier_digest() -> str:
    """The SHA-256 of the verifier's own code (every .py file of the package, by path and content): a
    result computed by one version of the checks is never served to another."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(f"v\0{path.relative_to(package).as_posix()}\0".encode("utf-8"))
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


VALIDATE_CACHE_VARIABLE = "TITO_VALIDATE_CACHE"


def validate_cache_enabled() -> bool:
    """False when the user turned validation's caches off (TITO_VALIDATE_CACHE=0, off, no or false): the
    output cache (checks/output_cache.py) and the per-module findings (checks/module_cache.py)."""
    return os.environ.get(VALIDATE_CACHE_VARIABLE, "").strip().lower() not in ("0", "off", "no", "false")


def result_file(kind: str, *inputs: str) -> Path:
    """The cache file of one result: `kind/<sha256 of the inputs>.json` in the cache folder."""
    digest = hashlib.sha256("\0".join(inputs).encode("utf-8", "surrogatepass")).hexdigest()
    return cache_dir() / kind / f"{digest}.json"


def load_result(path: Path) -> Optional[Any]:
    """A cached result, or None when absent or unreadable (then it is computed again)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def store_result(path: Path, value: Any) -> None:
    """Write a result atomically (a concurrent run reads the old file or the new one, never half);
    a cache that cannot be written only costs time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(value), encoding="utf-8")
        os.replace(partial, path)
    except OSError:
        pass


def cached_by_content(kind: str, text: str, compute: Callable[[], T], to_json: Callable[[T], Any],
                      from_json: Callable[[Any], Optional[T]], library: Optional[str] = None,
                      keep: Callable[[T], bool] = lambda value: True) -> T:
    """`compute()`, a function of `text` alone (and of the installed `library` that computes it), kept
    in `kind/` of the cache folder by the hash of the text, the verifier's code and that library's
    fingerprint — so that after an edit of one file the others are not computed again (nor the
    library imported). The entry holds its own key: an unreadable entry, or one written for another
    key (a copied or foreign file), or one `from_json` rejects (None) is computed again. A value
    `keep` refuses is not written. TITO_VALIDATE_CACHE=0: always computed, nothing written."""
    if not validate_cache_enabled():
        return compute()
    fingerprint = (installed_fingerprint(library) or "") if library else ""
    key = hashlib.sha256("\0".join(["1", verifier_digest(), fingerprint, text])
                         .encode("utf-8", "surrogatepass")).hexdigest()
    path = result_file(kind, key)
    kept = load_result(path)
    if isinstance(kept, dict) and kept.get("key") == key and "value" in kept:
        try:
            value = from_json(kept["value"])
        except (KeyError, ValueError, TypeError, AttributeError, IndexError):
            value = None
        if value is not None:
            return value
    value = compute()
    if keep(value):
        store_result(path, {"key": key, "value": to_json(value)})
    return value
