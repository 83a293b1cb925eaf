"""The verifier's cache folder, outside every course tree: `$TITO_CACHE`, else `$XDG_CACHE_HOME`,
else `~/.cache`, then `tinytorch-verifier/`. What lives there can always be rebuilt (jupytext's cell
split of a source, keyed by the text's hash; the quick check's dependency venvs), so a read-only or
missing home only makes the verifier slower, never wrong."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("TITO_CACHE") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tinytorch-verifier"
