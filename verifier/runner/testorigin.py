"""The guard that the course's tests exercise the installed wheel and nothing else.

Course tests run with `--import-mode=importlib` (pytest puts no test folder on sys.path) and
with the plugin below loaded by `-p`: at session start and again after collection (when every
conftest and test module has run its imports and any `sys.path.insert`), the package must come
from the venv's site-packages. Otherwise the session ends with a `TITO_SHADOWED` line naming
the path the package really came from.
"""
from __future__ import annotations

from pathlib import Path

PLUGIN_NAME = "tito_origin_guard"
SHADOW_PREFIX = "TITO_SHADOWED "

# Runs inside the venv's pytest (never imports the verifier).
PLUGIN = r'''
import importlib, os, sys
import pytest

_SITE = os.path.realpath(os.environ["TITO_SITE_PACKAGES"])
_PACKAGE = os.environ.get("TITO_PACKAGE", "tinytorch")


def _origin():
    module = sys.modules.get(_PACKAGE)
    if module is None:
        try:
            module = importlib.import_module(_PACKAGE)
        except Exception:
            return None  # a broken package is the tests' finding, not this guard's
    where = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", []) or []), None)
    return os.path.realpath(where) if where else None


def _check(when):
    where = _origin()
    if where is not None and os.path.commonpath([where, _SITE]) != _SITE:
        sys.stderr.write("TITO_SHADOWED %s %s\n" % (_PACKAGE, where))
        sys.stderr.flush()
        pytest.exit("%s was imported from %s, not from the venv's site-packages (%s)" % (_PACKAGE, where, when),
                    returncode=4)


def pytest_sessionstart(session):
    _check("at session start")


def pytest_collection_finish(session):
    _check("after collection")
'''

# `python -I -c LAUNCH <plugin dir> <pytest args...>`: -I keeps PYTHONPATH out, so the plugin's
# folder is put on sys.path explicitly (it holds only the plugin).
LAUNCH = ("import sys; sys.path.insert(0, sys.argv[1]); import pytest; "
          "raise SystemExit(pytest.main(sys.argv[2:]))")


def write_plugin(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{PLUGIN_NAME}.py").write_text(PLUGIN, encoding="utf-8")
    return folder


def shadowing_path(stderr: str) -> str:
    """The path the package was really imported from, when the guard stopped the session."""
    for line in stderr.splitlines():
        if line.startswith(SHADOW_PREFIX):
            return line[len(SHADOW_PREFIX):].split(" ", 1)[-1].strip()
    return ""
