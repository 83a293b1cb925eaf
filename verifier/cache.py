"""The verifier's cache folder, outside every course tree: `$TITO_CACHE`, else `$XDG_CACHE_HOME`,
else `~/.cache`, then `tinytorch-verifier/`. What lives there can always be rebuilt (jupytext's cell
split of a source, keyed by the text's hash; the quick check's dependency venvs), so a read-only or
missing home only makes the verifier slower, never wrong. A cache setting that cannot hold a folder
(XDG_CACHE_HOME naming a file, a read-only parent) is one warning line, and this run caches in a
temporary folder of its own, removed when it ends."""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional, Tuple

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
        _session_folder = Path(tempfile.mkdtemp(prefix="tito-cache-"))
        atexit.register(shutil.rmtree, str(_session_folder), True)
        print(f"tito: warning: cannot cache in {folder} (set by {source}): {reason} — caching in a temporary "
              f"folder for this run only; point TITO_CACHE or XDG_CACHE_HOME at a folder", file=sys.stderr)
    return _session_folder
