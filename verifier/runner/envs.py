"""Fresh virtual environments for a given interpreter, provisioned from the built wheel only with an
installer — uv (`uv pip install`, the `uv` wheel the verifier depends on) by default, pip when uv is
missing or asked for — and asked what they hold. A venv that uv installs into is made by `uv venv`
(~0.1 s CPU; virtualenv takes 0.5-0.9 s), one pip installs into by virtualenv, as before; both hold
pip (and setuptools below Python 3.12), what a student's `python -m pip` and `pip check` need.

A venv is never reused across verify runs, and holds only the wheel, its declared
dependencies and pip — nothing of the verifier — so an undeclared dependency of the course
cannot be masked by a package the tooling happened to install.

Third-party packages are installed from wheels only (`--only-binary :all:`; the course wheel is a
local file): a student's `pip install` must not depend on compiling NumPy. When pip fails, its
output is reduced to one line that names the requirement without a wheel for this Python, the
requirement and the lock pin that conflict, or the pin whose `--hash` the download does not match.

Packages come only from the indexes the user's pip/uv configuration names: the verifier adds no
index, find-links or trusted host of its own; a course's lock reaches the installer only as the
pins the verifier parsed and wrote back (course/lockfile.py); every requirement argument is checked
to be a local file, an editable directory the verifier made, or a plain name/version; and uv is told
to read only the user's uv.toml (`uv_config_env`), never the `uv.toml` / `[tool.uv]` of the folder it
runs in (a course's pyproject.toml) — uv reads those from the working directory upward, pip does not.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from packaging.requirements import InvalidRequirement, Requirement

from ..course.lockfile import LockFile
from ..course.matrix import version_key
from ..errors import EnvironmentSetupError
from .pipconf import uv_sources
from .processes import Completed, current_meter, run, sandboxed, stopping

# Variables that would let the outside world leak into a "fresh" environment.
LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "PIP_USER",
         "PIP_REQUIRE_VIRTUALENV", "CONDA_PREFIX", "__PYVENV_LAUNCHER__")

DESCRIBE = """
import json, sys, sysconfig
info = {"full_version": sys.version.split()[0], "site_packages": sysconfig.get_paths()["purelib"]}
try:
    import importlib.metadata as md
    info["numpy_version"] = md.version("numpy")
except Exception:
    info["numpy_version"] = None
import importlib.util
spec = importlib.util.find_spec("tinytorch")  # locates the package without running its code
info["tinytorch_file"] = spec.origin if spec else None
print(json.dumps(info))
"""


def clean_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LEAKY}
    env.update({"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUTF8": "1"})
    # uv trusts its own bundled roots by default; pip trusts the system's. Where a machine reaches
    # its package index through a certificate only the system store knows, uv must use that store too.
    env.setdefault("UV_SYSTEM_CERTS", "1")
    env.update(uv_config_env())
    env.update(extra or {})
    return env


@dataclass
class Venv:
    root: Path
    made_by: str = "virtualenv"   # how it was made: VIRTUALENV, UV_VENV or UV_VENV_SEEDED_BY_HAND

    @property
    def python(self) -> Path:
        if os.name == "nt":
            return self.root / "Scripts" / "python.exe"
        return self.root / "bin" / "python"

    def pip(self, *args: str, timeout: float = 900.0, write_bytecode: bool = False) -> Completed:
        """`python -m pip ARGS`; `write_bytecode`: Python may write .pyc files (clean_env forbids it),
        as on a user's machine — see `install`."""
        env = clean_env()
        if write_bytecode:
            del env["PYTHONDONTWRITEBYTECODE"]
        return run([self.python, "-m", "pip", *args], env=env, timeout=timeout)

    def install(self, requirements: Sequence[str], constraints: Optional[LockFile] = None,
                timeout: float = 900.0, only_binary: bool = True, installer: str = "pip",
                no_deps: bool = False, reinstall: bool = False, byte_compile: bool = True,
                write_bytecode: bool = False) -> Completed:
        """`pip install` (or `uv pip install` with installer="uv", pip when uv is missing) of
        `requirements`, constrained by the pins of `constraints` (written into a file of the
        verifier's own), wheels only unless `only_binary` is False. `byte_compile=False`: pip skips
        compiling the installed files (uv never does), which Python then does on first import.
        `write_bytecode` (pip only): the processes of this install may write .pyc files — a fresh venv's
        pip has none, so pip, the pip it starts for an isolated build environment and each build-backend
        hook would otherwise each compile pip and setuptools again in memory; written once, the later
        ones (and a `pip check` afterwards) read them. What the installed files are does not change."""
        checked_requirements(requirements)
        binary = ["--only-binary", ":all:"] if only_binary else []
        uv = find_uv() if installer == "uv" else None
        editable = "-e" in requirements
        # pip turns on hash-checking for every requirement once one constraint has a hash; a local
        # wheel then needs its own hash (given below), an editable install cannot have one at all
        hashed = constraints is not None and constraints.has_hashes and (uv is not None or not editable)
        extra = ["--constraint", str(self._write("tito-constraints.txt", constraints.render(hashed)))] \
            if constraints is not None else []
        if uv is not None:
            flags = ["--no-deps"] if no_deps else []
            flags += ["--reinstall"] if reinstall else []
            return run([uv, "pip", "install", "--python", str(self.python), *binary, *extra, *flags, *requirements],
                       cwd=self.root, env=uv_env(), timeout=timeout)
        flags = ["--no-deps"] if no_deps else []
        flags += ["--force-reinstall"] if reinstall else []
        flags += [] if byte_compile else ["--no-compile"]
        wanted = list(requirements)
        if hashed:
            wanted = ["--requirement", str(self._write("tito-requirements.txt", hashed_requirements(requirements)))]
        return self.pip("install", "--no-input", *binary, *extra, *flags, *wanted, timeout=timeout,
                        write_bytecode=write_bytecode)

    def _write(self, name: str, text: str) -> Path:
        """A file the verifier wrote (in the venv's own folder) for the installer to read."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return path

    def installed(self, installer: str = "pip") -> Dict[str, str]:
        """Distribution name (normalised) -> version, as the installer lists them."""
        uv = find_uv() if installer == "uv" else None
        if uv is not None:
            completed = run([uv, "pip", "list", "--format", "json", "--python", str(self.python)],
                            env=uv_env(), timeout=120)
        else:
            completed = self.pip("list", "--format", "json", timeout=120)
        try:
            rows = json.loads(completed.stdout)
        except ValueError:
            raise EnvironmentSetupError(f"could not list the packages of {self.root}: {completed.tail(3)}") from None
        return {re.sub(r"[-_.]+", "-", r["name"]).lower(): r["version"] for r in rows}

    def describe(self) -> Dict[str, Optional[str]]:
        completed = run([self.python, "-I", "-c", DESCRIBE], env=clean_env(), timeout=120)
        try:
            return json.loads(completed.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"error": completed.tail(5)}


def checked_requirements(requirements: Sequence[str]) -> None:
    """Refuse any install argument that could name a package source: each must be `-e` followed by a
    local directory, a local file (the course wheel), or a name with a version range, no URL."""
    expect_directory = False
    for item in requirements:
        if expect_directory:
            if not Path(item).is_dir():
                raise EnvironmentSetupError(f"refusing to install {item!r} in editable mode: not a local directory")
            expect_directory = False
            continue
        if item == "-e":
            expect_directory = True
            continue
        if not item.startswith("-") and Path(item).is_file():
            continue
        try:
            url = Requirement(item).url if not item.startswith("-") else "option"
        except InvalidRequirement:
            url = "not a requirement"
        if url:
            raise EnvironmentSetupError(f"refusing to pass {item[:120]!r} to the installer: only a local file or "
                                        f"a package name with a version range is installed",
                                        hint="name packages by version; configure indexes in pip.conf / "
                                             "PIP_INDEX_URL / UV_INDEX_URL")
    if expect_directory:
        raise EnvironmentSetupError("refusing `-e` without a directory")


def hashed_requirements(requirements: Sequence[str]) -> str:
    """A requirements file for pip's hash-checking mode: each local file as a file URL with the
    sha256 the verifier computed (it built the wheel), each name as it is (the lock pins its hash)."""
    lines = ["# written by tinytorch-verifier: the requirements of this install, local files with their sha256"]
    for item in requirements:
        path = Path(item)
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            lines.append(f"{path.resolve().as_uri()} --hash=sha256:{digest}")
        else:
            lines.append(item)
    return "\n".join(lines) + "\n"


def uv_user_config() -> Optional[Path]:
    """The user-level (else system-level) uv.toml uv would read, or None: the only uv
    configuration files that are the user's, as opposed to a project's."""
    home = Path.home()
    if os.name == "nt":
        places = [Path(os.environ.get("APPDATA", home / "AppData" / "Roaming")) / "uv" / "uv.toml",
                  Path(os.environ.get("SYSTEMDRIVE", "C:") + "\\") / "ProgramData" / "uv" / "uv.toml"]
    else:
        places = [Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "uv" / "uv.toml"]
        system = (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")
        places += [Path(folder) / "uv" / "uv.toml" for folder in system if folder]
        places.append(Path("/etc/uv/uv.toml"))
    return next((place for place in places if place.is_file()), None)


def uv_config_env() -> Dict[str, str]:
    """Settings that make every uv the verifier starts (its installs, and `build --installer uv`)
    read only the user's configuration: uv also reads `uv.toml` / `[tool.uv]` of the folder it runs
    in and the folders above — a course's pyproject.toml could name an index there. Pointing uv at
    the user's own file (or at none) turns that discovery off. A user who chose UV_CONFIG_FILE or
    UV_NO_CONFIG keeps the choice. (With both a user and a system file, only the user's is read.)"""
    if os.environ.get("UV_CONFIG_FILE") or os.environ.get("UV_NO_CONFIG"):
        return {}
    own = uv_user_config()
    return {"UV_CONFIG_FILE": str(own)} if own is not None else {"UV_NO_CONFIG": "1"}


def find_uv() -> Optional[Path]:
    """The uv binary: from the `uv` wheel installed beside the verifier, else on PATH; None without."""
    try:
        import uv  # the PyPI wheel ships the binary and this locator
        found = Path(uv.find_uv_bin())
        if found.is_file():
            return found
    except (ImportError, FileNotFoundError, AttributeError):
        pass
    on_path = shutil.which("uv")
    return Path(on_path) if on_path else None


def choose_installer(wanted: str) -> Tuple[str, str]:
    """(installer to use, why): uv when asked for and present, else pip."""
    if wanted not in ("uv", "pip"):
        raise EnvironmentSetupError(f"unknown installer {wanted!r}", hint="use --installer uv or --installer pip")
    if wanted == "uv" and find_uv() is None:
        return "pip", "uv not found: pip used"
    return wanted, ""


def uv_env() -> Dict[str, str]:
    """uv sees the package sources pip is configured with (find-links, index URLs from PIP_* variables
    and pip.conf, which uv never reads: runner/pipconf.py), so both installers resolve against the same
    wheels — unless uv is configured with sources of its own. Only the user's own settings are carried
    over: the verifier names no index of its own."""
    env = clean_env({"UV_NO_PROGRESS": "1"})
    chosen = os.environ.get("UV_CONFIG_FILE")
    config = Path(chosen) if chosen else None if os.environ.get("UV_NO_CONFIG") else uv_user_config()
    env.update(uv_sources(config))
    return env


VENV_FLAGS = ("--quiet", "--no-periodic-update")
# virtualenv keeps process-wide state (its app-data locks, its option parser's defaults): one venv at a time
_venv_lock = threading.Lock()


VIRTUALENV, UV_VENV, UV_VENV_SEEDED_BY_HAND = "virtualenv", "uv venv --seed", "uv venv + uv pip install pip setuptools"
# uv's own settings that would change the venv it makes (seed or not, clear, relocatable) or the
# interpreter it takes: the verifier chooses those, not the environment it runs in
UV_VENV_SETTINGS = ("UV_VENV_SEED", "UV_VENV_CLEAR", "UV_VENV_RELOCATABLE", "UV_PYTHON", "UV_MANAGED_PYTHON")
# below 3.12 `uv venv --seed` adds wheel (and wheel's dependency, packaging): a package the course did
# not declare would be importable there. Seeded by hand instead: what virtualenv seeds, pip and setuptools
SEED_BELOW_312 = ("pip", "setuptools; python_version < '3.12'")


def create_venv(interpreter: Path, where: Path, timeout: float = 300.0, installer: str = "pip",
                version: str = "") -> Venv:
    """A brand-new venv for `interpreter` (Python `version`, "" when unknown) at `where` (which must not
    exist yet). installer="uv" with uv found: made by `uv venv` (`make_uv_venv`); else a virtualenv."""
    if where.exists():
        raise EnvironmentSetupError("refusing to reuse an existing directory as a fresh venv", where)
    uv = find_uv() if installer == "uv" else None
    if uv is not None:
        return make_uv_venv(uv, interpreter, where, timeout, version)
    return _make_virtualenv(interpreter, where, timeout)


def uv_venv_commands(uv: Path, interpreter: Path, where: Path, version: str) -> List[List[str]]:
    """`uv venv` for exactly `interpreter` (an absolute path: uv never looks for, nor downloads, a
    Python) and no project (it never reads the folder's pyproject.toml), then the seed: `--seed` from
    3.12 on (pip alone there), else pip and setuptools installed by `uv pip install`."""
    alone = bool(version) and version_key(version) >= (3, 12)
    make = [str(uv), "venv", "--quiet", "--no-project", "--no-python-downloads",
            "--python", str(interpreter.absolute()), *(["--seed"] if alone else []), str(where.absolute())]
    if alone:
        return [make]
    python = Venv(where.absolute()).python
    return [make, [str(uv), "pip", "install", "--quiet", "--only-binary", ":all:", "--python", str(python),
                   *SEED_BELOW_312]]


def make_uv_venv(uv: Path, interpreter: Path, where: Path, timeout: float = 300.0, version: str = "") -> Venv:
    """The venv made by uv in its own process group (ended at `timeout`), run from the venv's parent
    folder, with the user's package sources and none of a course's (uv_env), Python downloads off.
    pip comes from those sources (uv's cache after the first venv), not from a copy bundled here."""
    where.parent.mkdir(parents=True, exist_ok=True)
    env = uv_env()
    for name in UV_VENV_SETTINGS:
        env.pop(name, None)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    began = time.monotonic()
    commands = uv_venv_commands(uv, interpreter, where, version)
    for command in commands:
        left = max(1.0, timeout - (time.monotonic() - began))
        completed = run(command, cwd=where.parent, env=env, timeout=left)
        if not completed.ok:
            why = f"timed out after {timeout:.0f} s" if completed.timed_out else uv_error_line(completed.stderr)
            raise EnvironmentSetupError(f"uv venv failed for {interpreter}: {why}", where)
    venv = Venv(where, made_by=UV_VENV if len(commands) == 1 else UV_VENV_SEEDED_BY_HAND)
    if not venv.python.exists():
        raise EnvironmentSetupError(f"uv venv failed for {interpreter}: no {venv.python} afterwards", where)
    return venv


def uv_error_line(stderr: str) -> str:
    """uv's error as one line: its `error:` line and the last `cause:` under it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("error:")]
    if not errors:
        return (lines or ["no output"])[-1][:300]
    first = errors[-1]
    said = lines[first][len("error:"):].strip()
    causes = [line[len("cause:"):].strip() for line in lines[first + 1:] if line.startswith("cause:")]
    return (said + (f": {causes[-1]}" if causes else ""))[:300]


def _make_virtualenv(interpreter: Path, where: Path, timeout: float) -> Venv:
    """A virtualenv made by virtualenv's Python API inside this process when virtualenv imports here —
    the same flags and the same venv as `python -m virtualenv`, without a new Python importing virtualenv
    (~0.3 s CPU) for each of the matrix's venvs; else (or under a sandbox, which wraps every child) as a
    child process."""
    args = [*VENV_FLAGS, "--python", str(interpreter), str(where)]
    cli_run = None if sandboxed() else _virtualenv_api()
    if cli_run is not None:
        failure = _venv_in_process(cli_run, args, timeout)
    else:
        completed = run([sys.executable, "-m", "virtualenv", *args], env=clean_env(), timeout=timeout)
        failure = "" if completed.ok else completed.tail(3)
    venv = Venv(where)
    if failure or not venv.python.exists():
        raise EnvironmentSetupError(f"virtualenv failed for {interpreter}: {failure}", where)
    return venv


def _virtualenv_api() -> Optional[Callable[..., object]]:
    try:
        from virtualenv import cli_run
    except ImportError:
        return None
    return cli_run


def _venv_in_process(cli_run: Callable[..., object], args: List[str], timeout: float) -> str:
    """`cli_run(args)` with the environment a child would get (clean_env: no VIRTUAL_ENV, PYTHONPATH …).
    The CPU time of the thread that runs it goes to the stage's meter; virtualenv's seeding threads (copying
    pip in, ~0.1-0.3 s a venv) cannot be told apart from this process's other threads, so the venv stage's
    cpu_seconds leaves them out — they are in the run's own CPU time. '' when it worked, else why not.
    Bounded like the child process it replaces: virtualenv runs in a thread of its own and a venv not
    made within `timeout` (an interpreter that hangs when virtualenv asks it about itself) is a
    failure of its stage — that thread is left to finish on its own, never waited for."""
    if not _venv_lock.acquire(timeout=timeout):
        return f"an earlier venv was still being made after {timeout:.0f} s"
    if stopping():
        _venv_lock.release()
        return "the run is stopping"
    meter = current_meter()  # the caller's: the stage's meter
    outcome: List[str] = []

    def make() -> None:
        try:
            cli_run(args, setup_logging=False, env=clean_env())
            outcome.append("")
        except SystemExit as exc:  # its option parser refused an argument
            outcome.append(f"virtualenv exited with {exc.code}")
        except Exception as exc:  # noqa: BLE001 - virtualenv's own errors (no such interpreter, disk full)
            outcome.append(f"{type(exc).__name__}: {exc}")
        finally:
            if meter is not None:
                meter.add(time.thread_time())  # this thread's whole CPU: it did nothing else
            _venv_lock.release()

    worker = threading.Thread(target=make, name="tito-virtualenv", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return f"virtualenv did not finish within {timeout:.0f} s"
    return outcome[0] if outcome else "virtualenv ended without a result"


NO_MATCH = re.compile(r"Could not find a version that satisfies the requirement (?P<req>.+?)"
                      r"(?: \(from (?P<by>[^)]+)\))? \(from versions: (?P<versions>[^)]*)\)")
CAUSES = re.compile(r"The conflict is caused by:\n(?P<lines>(?:[ \t]+\S.*\n?)+)")
CONSTRAINT = re.compile(r"The user requested \(constraint\) (?P<pin>\S+)")


UV_NO_WHEEL = re.compile(r"Wheels are required for `(?P<name>[^`]+)`")
UV_UNUSABLE = re.compile(r"Because (?P<req>\S+) has no (?:usable wheels|wheels with a matching Python)")
UV_BECAUSE = re.compile(r"Because (?P<clause>.+?),\s+we can conclude", re.S)
UV_REQUIRE = re.compile(r"you require (?P<pins>.+)$")


def _uv_failure(output: str, python: str, lock: Optional[str]) -> Optional[str]:
    """uv's resolver explanation as pip's would be said: a requirement without a wheel for this
    Python, or the requirement and the lock pin that conflict."""
    no_wheel = UV_NO_WHEEL.search(output)
    if no_wheel:
        unusable = UV_UNUSABLE.search(output)
        req = unusable["req"] if unusable else no_wheel["name"]
        return f"{req} has no wheel for Python {python}; building it from source is refused (wheels only)"
    because = UV_BECAUSE.search(output)
    if because is None or "No solution found" not in output:
        return None
    clause = " ".join(because["clause"].split()).replace(" depends on ", " requires ")
    if lock:
        pinned = UV_REQUIRE.search(clause)
        if pinned:  # the constraint file is the lock: say so
            clause = clause[:pinned.start()] + f"the lock {lock} pins {pinned['pins']}"
    return "conflicting requirements: " + clause


PIP_HASH_MISMATCH = re.compile(r"^\s+(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+) from .*\n"
                               r"\s+Expected (?P<algorithm>sha\d+) (?P<expected>[0-9a-f]+)\n"
                               r"(?:\s+or \S+ [0-9a-f]+\n)*\s+Got\s+(?P<got>[0-9a-f]+)", re.MULTILINE)
UV_HASH_MISMATCH = re.compile(r"Hash mismatch for `(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^`]+)`\s+"
                              r"Expected:\s+(?P<algorithm>sha\d+):(?P<expected>[0-9a-f]+)(?:\s+sha\d+:[0-9a-f]+)*\s+"
                              r"Computed:\s+sha\d+:(?P<got>[0-9a-f]+)")


def hash_failure(output: str, pins: Optional[LockFile]) -> Optional[str]:
    """pip's or uv's hash-mismatch report as one line naming the package, both hashes and the lock
    line that holds the expected one."""
    found = PIP_HASH_MISMATCH.search(output) or UV_HASH_MISMATCH.search(output)
    if found is None:
        return None
    name, version = found["name"], found["version"]
    expected, got = f"{found['algorithm']}:{found['expected']}", f"{found['algorithm']}:{found['got']}"
    where = "the lock"
    for pin in pins.pins_named(name) if pins is not None else []:
        if pin.version == version or expected in pin.hashes:
            where = pins.where(pin) if pins is not None else where
            break
    return (f"{name}=={version}: the downloaded file has {got} but {where} expects {expected} — if this "
            f"release's files changed, regenerate the lock (`nox -s lock`); else your index served a "
            f"different file")


def install_failure(output: str, python: str, lock: Optional[str] = None, pins: Optional[LockFile] = None) -> str:
    """One line for a failed `pip install`: the pin whose hash the download does not match, which
    requirement has no wheel for this Python, or which requirement conflicts with which lock pin;
    else pip's last error line."""
    mismatch = hash_failure(output, pins)
    if mismatch:
        return mismatch
    missing = NO_MATCH.search(output)
    if missing:
        versions = [v.strip() for v in missing["versions"].split(",") if v.strip() and v.strip() != "none"]
        by = f" (required by {missing['by']})" if missing["by"] else ""
        have = f"; wheels for this Python exist for {versions[0]} … {versions[-1]}" if versions else \
            "; no version has a wheel for it"
        return f"{missing['req']}{by} has no wheel for Python {python}{have}"
    causes = CAUSES.search(output)
    if causes:
        lines: List[str] = []
        for raw in causes["lines"].splitlines():
            line = raw.strip()
            pinned = CONSTRAINT.match(line)
            if pinned:
                line = f"the lock {lock} pins {pinned['pin']}" if lock else f"the constraints pin {pinned['pin']}"
            elif line.startswith("The user requested "):
                line = "requested " + line[len("The user requested "):]
            lines.append(line.replace(" depends on ", " requires "))
        return "conflicting requirements: " + " but ".join(lines)
    from_uv = _uv_failure(output, python, lock)
    if from_uv:
        return from_uv
    uv_reason = [line.strip(" ╰─▶×") for line in output.splitlines() if line.strip().startswith(("╰─▶", "×"))]
    if uv_reason:
        return uv_reason[-1][:300]
    errors = [line.strip() for line in output.splitlines() if line.strip().startswith("ERROR:")]
    last = errors[-1] if errors else ((output.strip().splitlines() or ["?"])[-1])
    return last[len("ERROR: "):][:300] if last.startswith("ERROR: ") else last[:300]
