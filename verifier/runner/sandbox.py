"""The bubblewrap sandbox for processes that run untrusted (student) code.

`tinytorch-verifier cohort verify` (and `tinytorch-verifier verify --sandbox`) runs every child of the verification
— build,
venv, install, module imports, scenarios, course tests — inside `bwrap`, with no network except for
the verifier's installer steps (uv, pip, virtualenv, build: they fetch wheels and build requirements
from the index), and a file system that is a whitelist: the system folders (/usr, /etc, /opt …) and
the interpreters and the verifier read-only, the student's own tree copy and work folder writable, a
fresh empty /tmp and HOME, and nothing else (other students' trees, the instructor's home, the
submissions and reports folders are simply not there).
A whitelist, because a submissions folder can live anywhere.

`probe()` says whether bwrap works here (it needs user namespaces unless run as root); when it does
not, the caller prints one warning and runs unsandboxed, never silently.
"""
from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Tuple
from urllib.parse import urlparse

# read-only system folders every Python needs (a symlink such as /bin -> usr/bin is recreated as one)
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/nix")
PIP_CONFIGS = (".config/pip", ".pip", ".config/uv", ".pydistutils.cfg")  # never .netrc: credentials
SOURCE_VARIABLES = ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_INDEX_URL",
                    "UV_EXTRA_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX")
NOT_SANDBOXED = "student code was not sandboxed"


@dataclass
class SandboxPolicy:
    writable: List[Path] = field(default_factory=list)    # the student's tree copy and work folder
    readonly: List[Path] = field(default_factory=list)    # beyond the system folders and defaults


def probe(bwrap: Optional[str] = None) -> Tuple[Optional[str], str]:
    """(path of a working bwrap, "") or (None, why not) — one line."""
    found = bwrap or shutil.which("bwrap")
    if not found:
        return None, "bubblewrap (bwrap) is not installed (apt-get install bubblewrap)"
    try:
        done = subprocess.run([found, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "true"],
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"bwrap cannot run: {exc}"
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return None, f"bwrap does not work here ({reason}; user namespaces disabled?)"
    return found, ""


def _local_sources(values: Iterable[str]) -> List[Path]:
    """Local folders named as package sources (find-links, file:// indexes): the installs need them."""
    found = []
    for value in values:
        for word in value.split():
            path = Path(urlparse(word).path) if word.startswith("file:") else Path(word)
            if path.is_absolute() and path.exists():
                found.append(path)
    return found


def _configured_sources(home: Path) -> List[Path]:
    values = [os.environ.get(name, "") for name in SOURCE_VARIABLES]
    for name in ("/etc/pip.conf", str(home / ".config/pip/pip.conf"), str(home / ".pip/pip.conf")):
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(name, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        for section in parser.sections():
            for key in ("find-links", "index-url", "extra-index-url"):
                values.append(parser.get(section, key, fallback=""))
    return _local_sources(values)


def default_readonly() -> List[Path]:
    """The interpreters (pyenv, asdf, uv), this verifier and its venv, and the package sources pip/uv
    are configured with."""
    import student_scenarios
    home = Path.home()
    paths = [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
             Path(__file__).resolve().parents[1], Path(student_scenarios.__file__).resolve().parent,
             Path(os.environ.get("PYENV_ROOT", home / ".pyenv")),
             Path(os.environ.get("ASDF_DATA_DIR", home / ".asdf")) / "installs" / "python",
             home / ".local" / "share" / "uv" / "python"]
    paths += [home / name for name in PIP_CONFIGS]
    paths += _configured_sources(home)
    executable = Path(sys.executable)
    paths += [executable.parent, executable.resolve().parent.parent]
    return [p for p in paths if p.exists()]


def bwrap_arguments(bwrap: str, policy: SandboxPolicy, cwd: Optional[Path]) -> List[str]:
    """The bwrap command line up to (not including) the command it runs."""
    args = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
            "--new-session"]
    for name in SYSTEM_PATHS:
        path = Path(name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            args += ["--ro-bind", name, name]
    home = Path(os.environ.get("HOME") or Path.home())
    args += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", str(home)]
    if home != Path("/root") and Path("/root").is_dir():
        args += ["--tmpfs", "/root"]
    # parents before children: a bind inside an earlier one stays visible
    readonly = sorted({p.resolve() for p in policy.readonly + default_readonly()}, key=lambda p: len(p.parts))
    for path in readonly:
        args += ["--ro-bind", str(path), str(path)]
    for path in sorted({p.resolve() for p in policy.writable}, key=lambda p: len(p.parts)):
        args += ["--bind", str(path), str(path)]
    if cwd is not None:
        args += ["--chdir", str(Path(cwd).resolve())]
    return args


# the verifier's own installer steps may reach the package index (wheels only: they run no student
# code; `build` provisions its isolated environment from the index); every other child has no network
NETWORK_MODULES = frozenset({"pip", "build", "virtualenv", "piptools"})


def needs_network(command: List[str]) -> bool:
    if Path(command[0]).name in ("uv", "uv.exe"):
        return True
    return len(command) > 2 and command[1] == "-m" and command[2] in NETWORK_MODULES


class Bubblewrap:
    """The wrapper processes.set_sandbox takes: every command goes through bwrap with the policy."""

    def __init__(self, bwrap: str, policy: SandboxPolicy) -> None:
        self.bwrap = bwrap
        self.policy = policy
        self._fixed: Optional[List[str]] = None

    def __call__(self, command: List[str], cwd: Optional[Path]) -> List[str]:
        if self._fixed is None:  # everything but --chdir is the same for every child
            self._fixed = bwrap_arguments(self.bwrap, self.policy, None)
        chdir = ["--chdir", str(Path(cwd).resolve())] if cwd is not None else []
        network = [] if needs_network(command) else ["--unshare-net"]
        return [*self._fixed, *network, *chdir, "--", *command]


def enable(writable: Iterable[Path], readonly: Iterable[Path] = ()) -> str:
    """Sandbox every later child of this process; returns "" or the one-line warning why not."""
    from .processes import set_sandbox

    bwrap, why = probe()
    if bwrap is None:
        set_sandbox(None)
        return f"{NOT_SANDBOXED}: {why}"
    set_sandbox(Bubblewrap(bwrap, SandboxPolicy([Path(p) for p in writable], [Path(p) for p in readonly])))
    return ""
