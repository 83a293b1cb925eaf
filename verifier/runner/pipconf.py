"""The package sources the user's pip configuration names, said in the UV_* variables uv reads — uv never
reads pip.conf.

The verifier installs only from the indexes the user's pip/uv configuration names. With `--installer uv`
(the default) a user whose mirror is set in pip.conf alone would otherwise have every install go to
PyPI, an index their configuration never named. So the configuration files are read here as pip reads
them (PIP_CONFIG_FILE, the global, user and site files; the [install] section over [global]; a later
file over an earlier one; PIP_* variables over every file) and carried to uv, unless uv has sources of
its own (UV_* variables or an index in the user's uv.toml): then uv's configuration is the user's word.
What uv cannot be told through its environment (pip's `no-index`) is refused in one line.
"""
from __future__ import annotations

import configparser
import os
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional

from ..errors import EnvironmentSetupError

SOURCE_KEYS = ("index-url", "extra-index-url", "find-links", "no-index")
# uv's own source settings: when one is set, uv's configuration decides and pip's is not carried over
UV_SOURCE_VARIABLES = ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_DEFAULT_INDEX", "UV_INDEX")
_UV_TOML_SOURCE = re.compile(r"^\s*(?:index-url|extra-index-url|find-links|index|default-index|no-index)\s*=|"
                             r"^\s*\[\[\s*index\s*\]\]", re.MULTILINE)


def pip_config_files() -> List[Path]:
    """The files pip reads, lowest priority first (pip's `configuration.py`: global, user, site, then
    PIP_CONFIG_FILE; that variable naming os.devnull means none at all, naming an existing file skips
    the user's)."""
    chosen = os.environ.get("PIP_CONFIG_FILE")
    if chosen == os.devnull:
        return []
    home = Path.home()
    name = "pip.ini" if os.name == "nt" else "pip.conf"
    if os.name == "nt":
        system = [Path(os.environ.get("ALLUSERSPROFILE", "C:\\ProgramData")) / "pip" / name]
        user = [home / "pip" / name, Path(os.environ.get("APPDATA", home / "AppData" / "Roaming")) / "pip" / name]
    elif sys.platform == "darwin":
        system = [Path("/Library/Application Support/pip") / name]
        user = [home / ".pip" / name, home / "Library" / "Application Support" / "pip" / name,
                Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / name]
    else:
        dirs = (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep)
        system = [Path(folder) / "pip" / name for folder in dirs if folder] + [Path("/etc") / name]
        user = [home / ".pip" / name, Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / name]
    files = system
    if not (chosen and Path(chosen).exists()):
        files += user
    files.append(Path(sys.prefix) / name)
    if chosen:
        files.append(Path(chosen))
    return files


def pip_file_sources() -> Dict[str, str]:
    """index-url, extra-index-url, find-links, no-index as pip's configuration files set them (for
    `pip install`: a key of [install] in any file over one of [global]). A file that cannot be parsed is
    an EnvironmentSetupError naming it — pip itself refuses to run with it."""
    merged: Dict[str, str] = {}
    for path in pip_config_files():
        if not path.is_file():
            continue
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise EnvironmentSetupError(f"pip's configuration file cannot be read: {first}", path,
                                        hint="fix it (pip refuses it too), or set PIP_CONFIG_FILE") from None
        for section in ("global", "install"):
            for key in SOURCE_KEYS:
                if parser.has_option(section, key):
                    merged[f"{section}.{key}"] = parser.get(section, key)
    return {key: merged.get(f"install.{key}", merged.get(f"global.{key}", "")) for key in SOURCE_KEYS
            if f"install.{key}" in merged or f"global.{key}" in merged}


def _uv_has_sources(uv_config: Optional[Path]) -> bool:
    if any(os.environ.get(name) for name in UV_SOURCE_VARIABLES):
        return True
    if uv_config is None:
        return False
    try:
        return _UV_TOML_SOURCE.search(uv_config.read_text(encoding="utf-8")) is not None
    except (OSError, UnicodeDecodeError):
        return False  # uv reports its own unreadable file


def _true(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def uv_sources(uv_config: Optional[Path]) -> Dict[str, str]:
    """The UV_* variables that give uv the sources pip is configured with (PIP_* variables over pip's
    files), searched as pip searches them: every index for the best version (UV_INDEX_STRATEGY
    unsafe-best-match, pip's behaviour, unless the user chose a strategy). Empty when uv has sources of
    its own (`uv_config`: the user's uv.toml uv reads, if any)."""
    if _uv_has_sources(uv_config):
        return {}
    pip = pip_file_sources()
    for key in SOURCE_KEYS:
        variable = "PIP_" + key.upper().replace("-", "_")
        if os.environ.get(variable):
            pip[key] = os.environ[variable]
    if _true(pip.get("no-index", "")):
        raise EnvironmentSetupError("your pip configuration sets no-index, which uv cannot be told through its "
                                    "environment: uv would search PyPI", hint="pass --installer pip, or set "
                                    "no-index = true in your uv.toml")
    env: Dict[str, str] = {}
    if pip.get("index-url", "").strip():
        env["UV_INDEX_URL"] = pip["index-url"].strip()
    if pip.get("extra-index-url", "").split():
        env["UV_EXTRA_INDEX_URL"] = " ".join(pip["extra-index-url"].split())  # uv: space-separated
        if not os.environ.get("UV_INDEX_STRATEGY"):
            env["UV_INDEX_STRATEGY"] = "unsafe-best-match"
    if pip.get("find-links", "").split():
        env["UV_FIND_LINKS"] = ",".join(pip["find-links"].split())  # uv: comma-separated (pip: whitespace)
    return env

