"""The canary's warnings hook (`tinytorch-verifier verify --canary`): which deprecation warnings the course's own
package causes, recorded and turned into errors, inside the canary venv's Python processes.

This file runs INSIDE the canary venv, never in the verifier: the canary copies it into the venv's
site-packages with a `.pth` line that calls `install()` at every interpreter start-up (a `.pth` file
is read even under `python -I`, which every stage uses), next to a JSON file naming the installed
package folder and the file to record into. So it imports the standard library only.

A warning is the package's when the frame it is attributed to (the caller the warning names through
its stacklevel) is in the package ("attributed"), or when a library warned about how it was called
with a stacklevel too shallow to reach past itself: the warning names the library's own frame, the
innermost frame is that library's too, and the first frame outside the library is the package's
("through <library>"). A library warning while it is imported (its first frame outside is
importlib's), or about its own call of another library, is not the package's.
"""
from __future__ import annotations

import json
import os
import sys
import warnings
from types import FrameType
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

WATCHED = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
CONFIG = "_tito_canary_warnings.json"   # beside this module in site-packages: {"package_dirs": [...], "record": path}
_MACHINERY = ("warnings.py", "_py_warnings.py")
_real: Dict[str, str] = {}


def _norm(path: str) -> str:
    """Absolute, symlinks resolved, case-folded where the file system is (cached: called per frame)."""
    found = _real.get(path)
    if found is None:
        found = _real[path] = os.path.normcase(os.path.realpath(path)) if not path.startswith("<") else path
    return found


def library_of(path: str) -> str:
    """The folder that stands for a file's library: `…/site-packages/<top>`, else the file's folder
    (the standard library's top-level modules share one)."""
    parts = path.split(os.sep)
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            index = len(parts) - 1 - parts[::-1].index(marker)
            return os.sep.join(parts[:index + 2])
    return os.path.dirname(path)


def inside(path: str, package_dirs: Sequence[str]) -> bool:
    return any(path == folder or path.startswith(folder + os.sep) for folder in package_dirs)


def origin(attributed: str, stack: Sequence[str], package_dirs: Sequence[str]) -> Optional[Tuple[str, int]]:
    """(how, index in `stack` of the package's frame, -1 for the attributed one) when the warning is the
    package's, else None. `attributed` is the file the warning names; `stack` the files of the Python
    frames at warning time, innermost first, warnings machinery left out; all paths normalised."""
    if inside(attributed, package_dirs):
        return "attributed", -1
    if not stack:
        return None
    library = library_of(attributed)
    if library_of(stack[0]) != library:
        return None  # named past the code that warned: a library calling another, or the package warning its caller
    for index, path in enumerate(stack):
        if library_of(path) == library:
            continue
        if inside(path, package_dirs):
            return f"through {os.path.basename(library)}", index
        return None  # importlib (the library's own import), a test, a scenario: not the package
    return None


def _frames() -> List[Tuple[str, int]]:
    """(normalised file, line) of every Python frame calling the warnings machinery, innermost first."""
    frame: Optional[FrameType] = sys._getframe(1)
    found: List[Tuple[str, int]] = []
    while frame is not None:
        name = frame.f_code.co_filename
        if name != __file__ and os.path.basename(name) not in _MACHINERY:
            found.append((_norm(name), frame.f_lineno))
        frame = frame.f_back
    return found


def _current_test() -> str:
    """The course test running now: pytest's own variable, trusted only in a process running pytest (a
    verifier started under pytest hands its own value down to every child)."""
    return os.environ.get("PYTEST_CURRENT_TEST", "") if "_pytest" in sys.modules else ""


def install() -> None:
    """Called by the `.pth` line at start-up: without the canary's JSON beside this file, nothing."""
    config_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), CONFIG)
    if not os.path.isfile(config_path):
        return
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    package_dirs = [_norm(folder) for folder in config["package_dirs"]]
    # opened now, before a stage's probe starts auditing opens: a finding's record is no side effect
    record = os.open(config["record"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    for category in WATCHED:  # every occurrence reaches the hook (not once per place, not ignored)
        warnings.filterwarnings("always", category=category)

    def patched(show: Callable[[Any], None]) -> Callable[[Any], None]:
        def _showwarnmsg(message: Any) -> None:
            if not issubclass(message.category, WATCHED):
                return show(message)
            stack = _frames()
            found = origin(_norm(message.filename), [path for path, _ in stack], package_dirs)
            if found is None:
                return None  # another library's deprecation: not the course's, and not printed (no side effect)
            how, index = found
            file, line = (message.filename, message.lineno) if index < 0 else stack[index]
            entry = {"category": message.category.__name__, "message": str(message.message), "file": file,
                     "line": line, "raised_file": message.filename, "raised_line": message.lineno, "how": how,
                     "cwd": os.getcwd(), "argv": [str(a) for a in sys.argv[:2]],
                     "test": _current_test()}
            os.write(record, (json.dumps(entry) + "\n").encode("utf-8"))
            raise message.message if isinstance(message.message, Warning) else message.category(message.message)
        return _showwarnmsg

    # the C warnings code and warnings.py both look `_showwarnmsg` up in their module at warning time, and
    # catch_warnings (pytest's per-test capture) swaps showwarning / _showwarnmsg_impl, never this one
    for name in ("warnings", "_py_warnings"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "_showwarnmsg"):
            module._showwarnmsg = patched(module._showwarnmsg)  # type: ignore[attr-defined]
