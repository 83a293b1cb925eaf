"""Finding a working interpreter for each Python of the matrix.

Plain `nox` trusts PATH; on machines where `python3.12` is a pyenv shim that fails, it then
skips every version while reporting success. Here every candidate is *run* before it is
trusted, and a version with no working interpreter is reported with where we looked.
Searched, in order: PATH (`python3.X`), pyenv (`$PYENV_ROOT` or ~/.pyenv), asdf, uv's
managed Pythons, and the usual system prefixes.

A version written `3.14t` names the free-threaded build of 3.14: it is looked for as `python3.14t`
(pyenv folders `3.14.0t`, uv's `cpython-3.14.0+freethreaded-...`), and a candidate counts only when it
says it is free-threaded (`Py_GIL_DISABLED`); a plain `3.14` never accepts a free-threaded build.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

PROBE = ("import json, sys, sysconfig; print(json.dumps({'version': list(sys.version_info[:3]), "
         "'full': sys.version.split()[0], 'executable': sys.executable, "
         "'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED'))}))")
FREE_THREADED = "t"   # the suffix of a free-threaded build's name: 3.14t, python3.14t


@dataclass(frozen=True)
class Interpreter:
    version: str        # "3.12" (or "3.14t": the free-threaded build)
    path: Path
    full_version: str   # "3.12.1"

    @property
    def free_threaded(self) -> bool:
        return is_free_threaded(self.version)


def is_free_threaded(version: str) -> bool:
    return version.endswith(FREE_THREADED)


@dataclass
class Lookup:
    version: str
    interpreter: Optional[Interpreter]
    looked: List[str]   # places searched, for the "not found" message

    def describe_missing(self) -> str:
        kind = f"free-threaded interpreter (python{self.version})" if is_free_threaded(self.version) \
            else "interpreter"
        return f"no {kind} for {self.version} found; looked in: {', '.join(self.looked)}"


def _exe(name: str) -> str:
    return f"{name}.exe" if os.name == "nt" else name


def _version_dirs(root: Path, prefix: str, version: str) -> List[Path]:
    """Folders like `3.12.1` (or `cpython-3.12.1-...`) under root, newest patch first; for `3.14t`
    the free-threaded ones: `3.14.0t` (pyenv) or `cpython-3.14.0+freethreaded-...` (uv)."""
    if not root.is_dir():
        return []
    wanted_free = is_free_threaded(version)
    plain = version[:-1] if wanted_free else version
    found = []
    for child in root.iterdir():
        name = child.name[len(prefix):] if child.name.startswith(prefix) else None
        if name is None:
            continue
        head = name.split("-")[0]
        free = head.endswith(FREE_THREADED) or "+freethreaded" in head
        head = head.split("+")[0].rstrip(FREE_THREADED)
        parts = head.split(".")
        if free == wanted_free and len(parts) >= 2 and ".".join(parts[:2]) == plain \
                and all(p.isdigit() for p in parts):
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
        if info and _answers_as(info, version):
            return Lookup(version, Interpreter(version, candidate, str(info["full"])), looked)
    looked.insert(0, "PATH")
    return Lookup(version, None, looked)


def _answers_as(info: Dict[str, object], version: str) -> bool:
    """The probe's answer is that version, and free-threaded exactly when the name says so."""
    numbers = info.get("version")
    if not isinstance(numbers, list):
        return False
    name = ".".join(str(p) for p in numbers[:2]) + (FREE_THREADED if info.get("free_threaded") else "")
    return name == version


def current_interpreter() -> Interpreter:
    info = sys.version_info
    free = FREE_THREADED if sysconfig.get_config_var("Py_GIL_DISABLED") else ""
    return Interpreter(f"{info[0]}.{info[1]}{free}", Path(sys.executable), ".".join(map(str, info[:3])))
