"""Fresh virtual environments: created with virtualenv for a given interpreter, provisioned
with pip from the built wheel only, and asked what they hold.

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
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

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
                timeout: float = 900.0, only_binary: bool = True) -> Completed:
        extra = ["--constraint", str(constraints)] if constraints else []
        binary = ["--only-binary", ":all:"] if only_binary else []
        return self.pip("install", "--no-input", *binary, *extra, *requirements, timeout=timeout)

    def describe(self) -> Dict[str, Optional[str]]:
        completed = run([self.python, "-I", "-c", DESCRIBE], env=clean_env(), timeout=120)
        try:
            return json.loads(completed.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"error": completed.tail(5)}


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
    errors = [l.strip() for l in output.splitlines() if l.strip().startswith("ERROR:")]
    last = errors[-1] if errors else ((output.strip().splitlines() or ["?"])[-1])
    return last[len("ERROR: "):][:300] if last.startswith("ERROR: ") else last[:300]
