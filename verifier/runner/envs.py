"""Fresh virtual environments: created with virtualenv for a given interpreter, provisioned
from the built wheel only with an installer — uv (`uv pip install`, the `uv` wheel the verifier
depends on) by default, pip when uv is missing or asked for — and asked what they hold.

A venv is never reused across verify runs, and holds only the wheel, its declared
dependencies and pip — nothing of the verifier — so an undeclared dependency of the course
cannot be masked by a package the tooling happened to install.

Third-party packages are installed from wheels only (`--only-binary :all:`; the course wheel is a
local file): a student's `pip install` must not depend on compiling NumPy. When pip fails, its
output is reduced to one line that names the requirement without a wheel for this Python, or
the requirement and the lock pin that conflict.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import EnvironmentSetupError
from .processes import Completed, run

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
    env.update(extra or {})
    return env


@dataclass
class Venv:
    root: Path

    @property
    def python(self) -> Path:
        if os.name == "nt":
            return self.root / "Scripts" / "python.exe"
        return self.root / "bin" / "python"

    def pip(self, *args: str, timeout: float = 900.0) -> Completed:
        return run([self.python, "-m", "pip", *args], env=clean_env(), timeout=timeout)

    def install(self, requirements: Sequence[str], constraints: Optional[Path] = None,
                timeout: float = 900.0, only_binary: bool = True, installer: str = "pip",
                no_deps: bool = False, reinstall: bool = False) -> Completed:
        """`pip install` (or `uv pip install` with installer="uv", pip when uv is missing) of
        `requirements`, constrained by `constraints`, wheels only unless `only_binary` is False."""
        extra = ["--constraint", str(constraints)] if constraints else []
        binary = ["--only-binary", ":all:"] if only_binary else []
        uv = find_uv() if installer == "uv" else None
        if uv is not None:
            flags = ["--no-deps"] if no_deps else []
            flags += ["--reinstall"] if reinstall else []
            return run([uv, "pip", "install", "--python", str(self.python), *binary, *extra, *flags, *requirements],
                       env=uv_env(), timeout=timeout)
        flags = ["--no-deps"] if no_deps else []
        flags += ["--force-reinstall"] if reinstall else []
        return self.pip("install", "--no-input", *binary, *extra, *flags, *requirements, timeout=timeout)

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
    """uv sees the package sources pip is configured with (find-links, index URLs from the
    environment), so both installers resolve against the same wheels."""
    env = clean_env({"UV_NO_PROGRESS": "1"})
    for pip_name, uv_name in (("PIP_FIND_LINKS", "UV_FIND_LINKS"), ("PIP_INDEX_URL", "UV_INDEX_URL"),
                              ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL")):
        if os.environ.get(pip_name) and uv_name not in env:
            env[uv_name] = os.environ[pip_name]
    return env


def create_venv(interpreter: Path, where: Path, timeout: float = 300.0) -> Venv:
    """A brand-new virtualenv for `interpreter` at `where` (which must not exist yet)."""
    if where.exists():
        raise EnvironmentSetupError("refusing to reuse an existing directory as a fresh venv", where)
    completed = run([sys.executable, "-m", "virtualenv", "--quiet", "--no-periodic-update",
                     "--python", str(interpreter), str(where)], env=clean_env(), timeout=timeout)
    venv = Venv(where)
    if not completed.ok or not venv.python.exists():
        raise EnvironmentSetupError(f"virtualenv failed for {interpreter}: {completed.tail(3)}", where)
    return venv


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


def install_failure(output: str, python: str, lock: Optional[str] = None) -> str:
    """One line for a failed `pip install`: which requirement has no wheel for this Python, or
    which requirement conflicts with which lock pin; else pip's last error line."""
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
