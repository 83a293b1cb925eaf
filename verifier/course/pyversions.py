"""What each Python version has: the standard library's top-level modules, the modules and names
that only newer Pythons have, the modules newer Pythons removed, and the oldest/newest Python a
course supports (from requires-python and the trove classifiers).

Used by the static validator to flag exported code that works on the developer's Python but
not on the oldest (or newest) one the course promises. The tables are deliberately small: they
cover what course code plausibly uses, not the whole changelog.
"""
from __future__ import annotations

import re
import sys
from typing import Dict, FrozenSet, Iterable, Optional, Tuple

Version = Tuple[int, int]
DEFAULT_OLDEST: Version = (3, 9)
# The newest Python the matrix expects a classifier for is not here: it is the newest *released* one at
# today's date, from the release calendar (course/pycalendar.py).

# Top-level modules that a newer Python added (checked against the oldest supported Python).
NEW_MODULES: Dict[str, Version] = {
    "zoneinfo": (3, 9), "graphlib": (3, 9), "tomllib": (3, 11), "wsgiref.types": (3, 11),
    "annotationlib": (3, 14), "compression": (3, 14), "string.templatelib": (3, 14),
}

# (module, name) pairs that a newer Python added.
NEW_NAMES: Dict[Tuple[str, str], Version] = {}
for _module, _names, _version in (
        ("typing", "TypeAlias ParamSpec ParamSpecArgs ParamSpecKwargs Concatenate TypeGuard is_typeddict",
         (3, 10)),
        ("typing", "Self LiteralString Never TypeVarTuple Unpack Required NotRequired assert_never assert_type "
                   "reveal_type dataclass_transform get_overloads clear_overloads", (3, 11)),
        ("typing", "override TypeAliasType get_protocol_members is_protocol", (3, 12)),
        ("typing", "ReadOnly TypeIs NoDefault", (3, 13)),
        ("itertools", "pairwise", (3, 10)),
        ("itertools", "batched", (3, 12)),
        ("math", "cbrt exp2", (3, 11)),
        ("math", "sumprod", (3, 12)),
        ("math", "fma", (3, 13)),
        ("contextlib", "aclosing", (3, 10)),
        ("contextlib", "chdir", (3, 11)),
        ("enum", "StrEnum ReprEnum EnumCheck FlagBoundary verify member nonmember global_enum show_flag_values",
         (3, 11)),
        ("datetime", "UTC", (3, 11)),
        ("asyncio", "TaskGroup timeout timeout_at Runner Timeout", (3, 11)),
        ("operator", "call", (3, 11)),
        ("hashlib", "file_digest", (3, 11)),
        ("inspect", "get_annotations", (3, 10)),
        ("inspect", "markcoroutinefunction", (3, 12)),
        ("statistics", "correlation covariance linear_regression", (3, 10)),
        ("statistics", "kde kde_random", (3, 13)),
        ("random", "binomialvariate", (3, 12)),
        ("types", "NoneType EllipsisType NotImplementedType UnionType", (3, 10)),
        ("dataclasses", "KW_ONLY", (3, 10)),
        ("os", "process_cpu_count", (3, 13)),
        ("copy", "replace", (3, 13)),
        ("warnings", "deprecated", (3, 13)),
        ("sys", "stdlib_module_names orig_argv", (3, 10)),
        ("sys", "monitoring", (3, 12)),
):
    for _name in _names.split():
        NEW_NAMES[(_module, _name)] = _version

# Keyword arguments that a newer Python added: (callable, keyword) -> version.
NEW_KEYWORDS: Dict[Tuple[str, str], Version] = {
    ("zip", "strict"): (3, 10),
    ("dataclasses.dataclass", "slots"): (3, 10),
    ("dataclasses.dataclass", "kw_only"): (3, 10),
    ("dataclasses.dataclass", "match_args"): (3, 10),
    ("dataclasses.dataclass", "weakref_slot"): (3, 11),
    ("dataclasses.field", "kw_only"): (3, 10),
    ("bisect.bisect_left", "key"): (3, 10), ("bisect.bisect_right", "key"): (3, 10),
    ("bisect.bisect", "key"): (3, 10), ("bisect.insort", "key"): (3, 10),
}

# Standard-library modules removed by a newer Python.
REMOVED_MODULES: Dict[str, Version] = {
    "distutils": (3, 12), "imp": (3, 12), "asynchat": (3, 12), "asyncore": (3, 12), "smtpd": (3, 12),
}
for _name in ("aifc audioop cgi cgitb chunk crypt imghdr mailcap msilib nis nntplib ossaudiodev pipes sndhdr spwd "
              "sunau telnetlib uu xdrlib lib2to3").split():
    REMOVED_MODULES[_name] = (3, 13)

# The standard library's top-level modules for interpreters without sys.stdlib_module_names (3.9).
_FALLBACK_STDLIB = """
__future__ _thread abc aifc argparse array ast asynchat asyncio asyncore atexit audioop base64 bdb binascii
binhex bisect builtins bz2 cProfile calendar cgi cgitb chunk cmath cmd code codecs codeop collections colorsys
compileall concurrent configparser contextlib contextvars copy copyreg crypt csv ctypes curses dataclasses datetime
dbm decimal difflib dis distutils doctest email encodings ensurepip enum errno faulthandler fcntl filecmp fileinput
fnmatch formatter fractions ftplib functools gc getopt getpass gettext glob graphlib grp gzip hashlib heapq hmac
html http idlelib imaplib imghdr imp importlib inspect io ipaddress itertools json keyword lib2to3 linecache
locale logging lzma mailbox mailcap marshal math mimetypes mmap modulefinder msilib msvcrt multiprocessing netrc
nis nntplib ntpath numbers opcode operator optparse os ossaudiodev parser pathlib pdb pickle pickletools pipes
pkgutil platform plistlib poplib posix posixpath pprint profile pstats pty pwd py_compile pyclbr pydoc pydoc_data
pyexpat queue quopri random re readline reprlib resource rlcompleter runpy sched secrets select selectors shelve
shlex shutil signal site smtpd smtplib sndhdr socket socketserver spwd sqlite3 sre_compile sre_constants
sre_parse ssl stat statistics string stringprep struct subprocess sunau symbol symtable sys sysconfig syslog
tabnanny tarfile telnetlib tempfile termios textwrap this threading time timeit tkinter token tokenize trace
traceback tracemalloc tty turtle turtledemo types typing unicodedata unittest urllib uu uuid venv warnings wave
weakref webbrowser winreg winsound wsgiref xdrlib xml xmlrpc zipapp zipfile zipimport zlib zoneinfo
"""

STDLIB_MODULES: FrozenSet[str] = frozenset(getattr(sys, "stdlib_module_names", None) or _FALLBACK_STDLIB.split()) \
    | frozenset(REMOVED_MODULES) | frozenset(m.split(".")[0] for m in NEW_MODULES)


# Names a module file must not take: the standard library every supported Python (3.9 on) has.
# Fixed (not the running interpreter's list) so that a verdict does not depend on who runs it.
SHADOWABLE_STDLIB: FrozenSet[str] = frozenset(_FALLBACK_STDLIB.split()) - {"this", "antigravity", "idlelib",
                                                                           "turtledemo", "pydoc_data"}


def is_stdlib(module: str) -> bool:
    return module.split(".")[0] in STDLIB_MODULES


def show(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


_SPEC = re.compile(r"^\s*(?P<op>~=|===|==|>=|<=|!=|>|<)\s*(?P<version>\d+(?:\.\d+)*)(?P<star>\.\*)?\s*$")


def _versions(requires_python: str) -> Iterable[Tuple[str, Tuple[int, ...], bool]]:
    for part in requires_python.split(","):
        match = _SPEC.match(part)
        if match:
            numbers = tuple(int(n) for n in match["version"].split("."))
            yield match["op"], numbers + (0,) * (2 - len(numbers)), bool(match["star"])


def oldest_python(requires_python: str) -> Optional[Version]:
    """`>=3.9` -> (3, 9); `~=3.10` -> (3, 10); `>3.9` -> (3, 10); `==3.11.*` -> (3, 11). None if unbounded."""
    best: Optional[Version] = None
    for op, numbers, star in _versions(requires_python):
        version: Optional[Version] = None
        if op in (">=", "~=", "==", "==="):
            version = (numbers[0], numbers[1])
        elif op == ">":
            version = (numbers[0], numbers[1] + (1 if len(numbers) <= 2 or star else 0))
        if version and (best is None or version > best):
            best = version
    return best


def newest_python(requires_python: str, classifiers: Iterable[str] = ()) -> Optional[Version]:
    """The newest Python a course supports: an upper bound in requires-python, else the newest
    `Programming Language :: Python :: 3.N` classifier. None when neither says."""
    for op, numbers, _ in _versions(requires_python):
        if op == "<":
            return (numbers[0], numbers[1] - 1) if len(numbers) <= 2 or not any(numbers[2:]) else \
                (numbers[0], numbers[1])
        if op == "<=":
            return (numbers[0], numbers[1])
    found = []
    for classifier in classifiers:
        match = re.match(r"^Programming Language :: Python :: (\d+)\.(\d+)\s*$", str(classifier))
        if match:
            found.append((int(match[1]), int(match[2])))
    return max(found) if found else None
