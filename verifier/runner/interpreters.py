"""Finding a working interpreter for each Python of the matrix.

Plain `nox` trusts PATH; on machines where `python3.12` is a pyenv shim that fails, it then
skips every version while reporting success. Here every candidate is *run* before it is
trusted, and a version with no working interpreter is reported with where we looked.
Searched, in order: PATH (`python3.X`), pyenv (`$PYENV_ROOT` or ~/.pyenv), asdf, uv's
managed Pythons, and the usual system prefixes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

PROBE = ("import json, sys, sysconfig; print(json.dumps({'version': list(sys.version_info[:3]), "
         "'full': sys.version.split()[0], 'executable': sys.executable}))")


@dataclass(frozen=True)
class Interpreter:
    version: str        # "3.12"
    path: Path
    full_version: str   # "3.12.1"


@dataclass
class Lookup:
    version: str
    interpreter: Optional[Interpreter]
    looked: List[str]   # places searched, for the "not found" message

    def describe_missing(self) -> str:
        return f"no interpreter for {self.version} found; looked in: {', '.join(self.looked)}"


def _exe(name: str) -> str:
    return f"{name}.exe" if os.name == "nt" else name


def _version_dirs(root: Path, prefix: str, version: str) -> List[Path]:
    """Folders like `3.12.1` (or `cpython-3.12.1-...`) under root, newest patch first."""
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        name = child.name[len(prefix):] if child.name.startswith(prefix) else None
        if name is None:
            continue
        head = name.split("-")[0]
        parts = head.split(".")
        if len(parts) >= 2 and ".".join(parts[:2]) == version and all(p.isdigit() for p in parts):
            found.append((tuple(int(p) for p in parts), child))
    return [path for _, path in sorted(found, reverse=True)]


def candidate_places(version: str) -> Iterator[Tuple[str, Optional[Path]]]:
    """(description, candidate executable or None) in search order."""
    name = _exe(f"python{version}")
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if entry:
            yield f"PATH:{entry}", Path(entry) / name
    home = Path.home()
    roots = [
        ("pyenv", Path(os.environ.get("PYENV_ROOT", home / ".pyenv")) / "versions", ""),
        ("asdf", Path(os.environ.get("ASDF_DATA_DIR", home / ".asdf")) / "installs" / "python", ""),
        ("uv", Path(os.environ.get("UV_PYTHON_INSTALL_DIR", home / ".local" / "share" / "uv" / "python")),
         "cpython-"),
    ]
    for label, root, prefix in roots:
        dirs = _version_dirs(root, prefix, version)
        if not dirs:
            yield f"{label}:{root}", None
        for folder in dirs:
            bindir = folder / ("Scripts" if os.name == "nt" else "bin")
            yield f"{label}:{folder}", bindir / name if (bindir / name).exists() else bindir / _exe("python")
    for prefix in ("/usr/local/bin", "/usr/bin", "/opt/homebrew/bin"):
        yield prefix, Path(prefix) / name


def probe(path: Path, timeout: float = 20.0) -> Optional[Dict[str, object]]:
    """Run the candidate; None unless it answers with its version."""
    try:
        completed = subprocess.run([str(path), "-I", "-c", PROBE], capture_output=True, text=True,
                                   timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    try:
        return json.loads(completed.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def find_interpreter(version: str) -> Lookup:
    looked: List[str] = []
    tried = set()
    for where, candidate in candidate_places(version):
        if where not in looked and not where.startswith("PATH:"):
            looked.append(where)
        if candidate is None or not candidate.exists():
            continue
        key = os.path.realpath(candidate)
        if key in tried:
            continue
        tried.add(key)
        info = probe(candidate)
        if info and ".".join(str(p) for p in info["version"][:2]) == version:  # type: ignore[index]
            return Lookup(version, Interpreter(version, candidate, str(info["full"])), looked)
    looked.insert(0, "PATH")
    return Lookup(version, None, looked)


def current_interpreter() -> Interpreter:
    info = sys.version_info
    return Interpreter(f"{info[0]}.{info[1]}", Path(sys.executable), ".".join(map(str, info[:3])))
