"""The course's configuration files, each read once, safely, and checked against a schema.

    pyproject.toml   [project] and [tool.tinytorch]       load_pyproject
    settings.ini     nbdev's settings (layouts B and C)   load_settings
    module.yaml      one per module (problems are findings, never raised)   load_module_yaml
    api.json         the committed API snapshot           load_api_snapshot
    locks/py3.X.txt  pip-tools lock files                 read_lock_text

A wrong type is one line with file:line and what to write instead ("[project] dependencies must be
a list of strings, found a string"). Every file has a size cap; YAML is composed by a loader that
counts alias uses, nodes and depth and refuses an alias bomb before expanding it; deeply nested
YAML or JSON is refused with one line instead of a RecursionError. `requires_python_spec` is the one
definition of a valid `requires-python`, used for every command that loads a course.

Longer than usual because each of the four file kinds is read here with its own schema, size cap and
line numbers, so that every configuration mistake of a course is said in one place, one way.
"""
from __future__ import annotations

import configparser
import datetime
import json
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from ..errors import CourseError
from .files import KIB, MIB, decode_utf8, read_course_bytes, read_course_text, read_course_text_or_none

PYPROJECT_LIMIT = 1 * MIB
SETTINGS_LIMIT = 256 * KIB
MODULE_YAML_LIMIT = 256 * KIB
API_SNAPSHOT_LIMIT = 16 * MIB
LOCK_LIMIT = 4 * MIB

JSON_MAX_DEPTH = 64            # a notebook is four levels deep; api.json three

PACKAGE_CHOICES = ("course", "nbdev", "star-imports")
IMPORT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DOTTED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ConfigError(CourseError):
    """A configuration file of the course has the wrong shape or an invalid value."""


# ----------------------------------------------------------------------------------------- types

@dataclass(frozen=True)
class Expect:
    """What a configuration value must be: a description for the message and a test."""
    description: str
    accepts: Callable[[Any], bool]
    example: str = ""


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


STRING = Expect("a string", lambda v: isinstance(v, str))
STRING_LIST = Expect("a list of strings", _is_str_list)
TABLE = Expect("a table", lambda v: isinstance(v, dict))
STRING_TABLE = Expect("a table of strings",
                      lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()))
LIST_TABLE = Expect("a table of lists of strings",
                    lambda v: isinstance(v, dict) and all(_is_str_list(x) for x in v.values()))
STRING_OR_TABLE = Expect("a string or a table", lambda v: isinstance(v, (str, dict)))
TABLE_LIST = Expect("a list of tables", lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v))

PROJECT_SCHEMA: Dict[str, Expect] = {
    "name": Expect("a string", STRING.accepts, 'name = "tinytorch"'),
    "version": Expect("a string", STRING.accepts, 'version = "0.1.0"'),
    "description": STRING,
    "requires-python": Expect("a string", STRING.accepts, 'requires-python = ">=3.9"'),
    "dependencies": Expect("a list of strings", _is_str_list, 'dependencies = ["numpy>=1.22"]'),
    "optional-dependencies": Expect(LIST_TABLE.description, LIST_TABLE.accepts, 'test = ["pytest"]'),
    "classifiers": Expect("a list of strings", _is_str_list,
                          'classifiers = ["Programming Language :: Python :: 3.12"]'),
    "keywords": STRING_LIST, "dynamic": STRING_LIST,
    "readme": STRING_OR_TABLE, "license": STRING_OR_TABLE,
    "authors": TABLE_LIST, "maintainers": TABLE_LIST,
    "urls": STRING_TABLE, "scripts": STRING_TABLE, "gui-scripts": STRING_TABLE, "entry-points": TABLE,
}
TINYTORCH_SCHEMA: Dict[str, Expect] = {
    "package": Expect("a string", STRING.accepts, 'package = "tinytorch"'),
    "location": Expect("a string", STRING.accepts, 'location = "core"'),
    "modules": Expect("a string", STRING.accepts, 'modules = "modules"'),
    "init": Expect("a string", STRING.accepts, 'init = "star-imports"'),
    # `tinytorch-verifier verify --baseline`: an operation this many times slower than the baseline blocks
    "baseline-slowdown": Expect("a number above 1", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                                and v > 1, "baseline-slowdown = 1.5"),
}


def describe(value: Any) -> str:
    """The TOML/YAML name of a value's type, with its article."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        inner = sorted({describe(item) for item in value if not isinstance(item, str)})
        return f"a list containing {' and '.join(inner)}" if inner else "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, (datetime.date, datetime.time)):
        return "a date or time"
    return f"a {type(value).__name__}"


# ------------------------------------------------------------------------------------ TOML lines

_TOML_HEADER = re.compile(r"^\s*\[\[?\s*(?P<name>[^\[\]#]+?)\s*\]\]?\s*(#.*)?$")
_TOML_ASSIGN = re.compile(r"^\s*(?P<key>[A-Za-z0-9_\-.\"' ]+?)\s*=")


def _dotted(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


def toml_key_line(text: str, table: str, key: str) -> Optional[int]:
    """The line where `table.key` is assigned in a TOML text (table "" = the top level); else the
    line of the table's header; else None."""
    wanted = f"{table}.{key}" if table else key
    current, header_line = "", None
    for number, line in enumerate(text.splitlines(), 1):
        header = _TOML_HEADER.match(line)
        if header:
            current = _dotted(header["name"])
            if current == wanted:
                return number
            if current == table:
                header_line = number
            continue
        assign = _TOML_ASSIGN.match(line)
        if assign:
            full = _dotted(assign["key"])
            full = f"{current}.{full}" if current else full
            if full == wanted:
                return number
    return header_line


# ------------------------------------------------------------------------------- requires-python

def requires_python_spec(text: str, path: Optional[Path] = None, line: Optional[int] = None) -> SpecifierSet:
    """The one definition of a valid `requires-python`: what `packaging` parses as a SpecifierSet."""
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ConfigError(f"requires-python {text!r} is not a valid version specifier", path, line,
                          hint='write it like ">=3.9" or ">=3.9,<3.14"') from None


# -------------------------------------------------------------------------------- pyproject.toml

def _check_table(data: Dict[str, Any], table: str, schema: Dict[str, Expect], text: str, path: Path) -> None:
    for key, expect in schema.items():
        if key in data and not expect.accepts(data[key]):
            example = f" — write it like {expect.example}" if expect.example else ""
            raise ConfigError(f"[{table}] {key} must be {expect.description}, found {describe(data[key])}{example}",
                              path, toml_key_line(text, table, key))


def _check_relative_inside(value: str, what: str, root: Path, path: Path, line: Optional[int]) -> None:
    """A setting that names a folder of the course must stay inside it."""
    if "\x00" in value or not value.strip():
        raise ConfigError(f"{what} {value!r} is not a usable folder name", path, line)
    candidate = Path(value)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise ConfigError(f"{what} {value!r} points outside the course", path, line,
                          hint="use a folder inside the course, relative to it")
    real_root = root.resolve()
    real = (root / candidate).resolve()
    if real != real_root and real_root not in real.parents:
        raise ConfigError(f"{what} {value!r} points outside the course (to {real})", path, line,
                          hint="use a folder inside the course, not a link out of it")


def _check_package_name(value: str, what: str, root: Path, path: Path, line: Optional[int]) -> None:
    name = value.strip("/")
    if not IMPORT_NAME.match(name) or keyword.iskeyword(name):  # `import class` is a SyntaxError
        raise ConfigError(f"{what} {value!r} is not a Python package name inside the course", path, line,
                          hint='use the import name of the library, e.g. "tinytorch"')
    _check_relative_inside(name, what, root, path, line)


def check_pyproject(data: Dict[str, Any], text: str, path: Path) -> None:
    """Raise ConfigError (file:line) for a [project] or [tool.tinytorch] value of the wrong shape."""
    root = path.parent
    for table, parent, key in (("project", "", "project"), ("tool", "", "tool"),
                               ("tool.tinytorch", "tool", "tinytorch")):
        holder = data if not parent else data.get(parent, {})
        if isinstance(holder, dict) and key in holder and not isinstance(holder[key], dict):
            raise ConfigError(f"[{table}] must be a table, found {describe(holder[key])}", path,
                              toml_key_line(text, parent, key), hint=f"write it as a [{table}] section")
    project = data.get("project", {})
    _check_table(project, "project", PROJECT_SCHEMA, text, path)
    if "requires-python" in project:
        requires_python_spec(project["requires-python"], path, toml_key_line(text, "project", "requires-python"))
    tool = data.get("tool", {}).get("tinytorch", {})
    _check_table(tool, "tool.tinytorch", TINYTORCH_SCHEMA, text, path)
    if "package" in tool:
        _check_package_name(tool["package"], "[tool.tinytorch] package", root, path,
                            toml_key_line(text, "tool.tinytorch", "package"))
    if "modules" in tool:
        _check_relative_inside(tool["modules"], "[tool.tinytorch] modules", root, path,
                               toml_key_line(text, "tool.tinytorch", "modules"))
    if "location" in tool and (not DOTTED_NAME.match(tool["location"])
                               or any(keyword.iskeyword(part) for part in tool["location"].split("."))):
        raise ConfigError(f"[tool.tinytorch] location {tool['location']!r} is not a dotted module path", path,
                          toml_key_line(text, "tool.tinytorch", "location"), hint='e.g. location = "core"')


LONG_DIGITS = re.compile(r"[0-9_]{4000,}")


def _huge_integer_error(text: str, path: Path) -> ConfigError:
    """The one ValueError the TOML parsers let through: an integer too long for Python's int()."""
    match = LONG_DIGITS.search(text)
    line = text.count("\n", 0, match.start()) + 1 if match else None
    return ConfigError("not valid TOML: a number with thousands of digits (Python refuses to read it)", path,
                       line, hint="shorten the number, or quote it if it is meant as text")


def parse_pyproject(text: str, path: Path) -> Dict[str, Any]:
    # tomllib (3.11+) is the parser pip and setuptools read pyproject.toml with, and it is quick to
    # import and to run; tomlkit (slow to import, slower to parse) is asked only where tomllib is
    # missing or refuses the text — then for its error message, which names the line and column
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        pass
    else:
        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError):
            pass
        except ValueError:  # an integer past Python's int-from-string digit limit (sys.get_int_max_str_digits)
            raise _huge_integer_error(text, path) from None
        else:
            check_pyproject(data, text, path)
            return data
    import tomlkit
    import tomlkit.exceptions

    try:
        document = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"not valid TOML: {exc.args[0] if exc.args else exc} (column {exc.col})",
                          path, exc.line, hint="fix the TOML syntax") from None
    except RecursionError:
        raise ConfigError("not valid TOML: nested too deeply", path, hint="flatten the nesting") from None
    except ValueError:
        raise _huge_integer_error(text, path) from None
    data = document.unwrap()
    check_pyproject(data, text, path)
    return data


def load_pyproject(path: Path, root: Optional[Path] = None) -> Dict[str, Any]:
    """pyproject.toml as plain Python values, checked; raises ConfigError/UnsafeFileError."""
    root = root or path.parent
    return parse_pyproject(read_course_text(path, root, PYPROJECT_LIMIT), path)


# --------------------------------------------------------------------------------- settings.ini

def _ini_key_line(text: str, key: str) -> Optional[int]:
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*[=:]", re.IGNORECASE)
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return None


def load_settings(path: Path, root: Optional[Path] = None) -> Dict[str, str]:
    """nbdev's settings.ini: the first section merged over DEFAULT, with paths and versions checked."""
    root = root or path.parent
    text = read_course_text(path, root, SETTINGS_LIMIT)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None)
        first = (getattr(exc, "message", "") or str(exc)).splitlines()[0]
        raise ConfigError(f"not a valid settings.ini: {first}", path, line) from None
    section = parser["DEFAULT"] if not parser.sections() else parser[parser.sections()[0]]
    merged = dict(parser["DEFAULT"])
    merged.update(dict(section))
    if merged.get("lib_path"):
        _check_package_name(merged["lib_path"], "lib_path", root, path, _ini_key_line(text, "lib_path"))
    if merged.get("nbs_path"):
        _check_relative_inside(merged["nbs_path"], "nbs_path", root, path, _ini_key_line(text, "nbs_path"))
    if merged.get("min_python"):
        value = merged["min_python"].strip()
        requires_python_spec(f">={value}" if re.match(r"^\d", value) else value, path,
                             _ini_key_line(text, "min_python"))
    return merged


@dataclass
class ModuleYaml:
    data: Optional[Dict[str, Any]]
    problem: Optional[Tuple[str, Optional[int]]] = None   # (message, line)
    lines: Dict[str, int] = field(default_factory=dict)    # top-level key -> line


def parse_module_yaml(text: str, folder: Optional[Path] = None, root: Optional[Path] = None) -> ModuleYaml:
    """A module.yaml text: its mapping, or the one problem that makes it unusable (never raises)."""
    from .yamlsafe import read_document

    return _checked_dev_file(_mapping(*read_document(text)), folder, root)


def _mapping(value: Any, problem: Optional[Tuple[str, Optional[int]]], lines: Dict[str, int]) -> ModuleYaml:
    """A read module.yaml document as a ModuleYaml: a mapping, or the problem that makes it unusable."""
    if problem is not None:
        return ModuleYaml(None, problem)
    if not isinstance(value, dict):
        return ModuleYaml(None, (f"module.yaml must be a mapping of keys, found {describe(value)}", 1))
    return ModuleYaml(value, None, lines)


def _checked_dev_file(loaded: ModuleYaml, folder: Optional[Path], root: Optional[Path]) -> ModuleYaml:
    """`loaded`, or its dev-file problem (it depends on the folders, so it is never cached)."""
    if loaded.data is None:
        return loaded
    problem = _dev_file_problem(loaded.data, folder, root, loaded.lines)
    return ModuleYaml(None, problem, loaded.lines) if problem is not None else loaded


def _json_exact(value: Any) -> bool:
    """Whether `value` comes back from JSON equal and of the same types (no dates, sets, bytes or
    non-string keys, which YAML can write): only such a mapping is kept in the cache."""
    if isinstance(value, dict):
        return all(isinstance(key, str) and _json_exact(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_json_exact(item) for item in value)
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    return value is None or isinstance(value, (str, int))


def _cached_mapping(text: str) -> ModuleYaml:
    """The YAML part of parse_module_yaml, kept in the verifier's cache by content
    (cache.cached_by_content, with the installed PyYAML): after an edit of one module the other
    module.yaml files are not parsed (nor PyYAML imported). A problem is rare: parsed again, never kept."""
    from ..cache import cached_by_content

    def parsed() -> ModuleYaml:
        from .yamlsafe import read_document
        return _mapping(*read_document(text))

    def from_json(raw: Any) -> Optional[ModuleYaml]:
        if isinstance(raw, dict) and isinstance(raw.get("data"), dict) and isinstance(raw.get("lines"), dict) \
                and all(isinstance(v, int) for v in raw["lines"].values()):
            return ModuleYaml(raw["data"], None, raw["lines"])
        return None

    return cached_by_content("module-yaml", text, parsed, lambda loaded: {"data": loaded.data, "lines": loaded.lines},
                             from_json, library="yaml",
                             keep=lambda loaded: loaded.data is not None and _json_exact(loaded.data))


def _dev_file_problem(data: Dict[str, Any], folder: Optional[Path], root: Optional[Path],
                      lines: Dict[str, int]) -> Optional[Tuple[str, Optional[int]]]:
    """`files.dev_file` must name a file of the course: a string, relative, not escaping the course."""
    files = data.get("files")
    if not isinstance(files, dict) or files.get("dev_file") in (None, ""):
        return None
    value = files["dev_file"]
    line = lines.get("files")
    if not isinstance(value, str):
        return f"module.yaml files.dev_file must be a file name, found {describe(value)}", line
    candidate = Path(value)
    if "\x00" in value or candidate.is_absolute() or ".." in candidate.parts:
        return f"module.yaml files.dev_file {value!r} points outside the module folder", line
    if folder is not None and root is not None:
        real_root = root.resolve()
        real = (folder / candidate).resolve()
        if real_root not in real.parents:
            return f"module.yaml files.dev_file {value!r} points outside the course (to {real})", line
    return None


def load_module_yaml(path: Path, root: Path) -> ModuleYaml:
    """A module's module.yaml, read safely (special files, size, encoding are problems, not errors)."""
    try:
        raw = read_course_bytes(path, root, MODULE_YAML_LIMIT)
        text = decode_utf8(raw, path)
    except CourseError as exc:
        if "UTF-8" in exc.message:
            return ModuleYaml(None, ("module.yaml is not valid UTF-8", exc.line or 1))
        return ModuleYaml(None, (f"module.yaml {exc.message}", None))
    return _checked_dev_file(_cached_mapping(text), path.parent, root)


# ------------------------------------------------------------------------------------------ JSON

_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth_problem(text: str, max_depth: int = JSON_MAX_DEPTH) -> Optional[Tuple[int, int]]:
    """(line, column) where the nesting first goes deeper than max_depth, else None. Linear, no recursion."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        char = token.group()[0]
        if char in "[{":
            depth += 1
            if depth > max_depth:
                start = token.start()
                line = text.count("\n", 0, start) + 1
                return line, start - (text.rfind("\n", 0, start) + 1) + 1
        elif char in "]}":
            depth -= 1
    return None


def load_json(text: str, path: Path, what: str = "JSON", max_depth: int = JSON_MAX_DEPTH) -> Any:
    """json.loads that refuses deep nesting with one line and reports syntax errors with file:line."""
    deep = json_depth_problem(text, max_depth)
    if deep is not None:
        raise ConfigError(f"not valid {what}: nested more than {max_depth} levels deep (column {deep[1]})",
                          path, deep[0], hint="repair or regenerate the file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid {what}: {exc.msg} (column {exc.colno})", path, exc.lineno,
                          hint="repair or regenerate the file") from None
    except RecursionError:
        raise ConfigError(f"not valid {what}: nested too deeply", path, hint="repair or regenerate the file") from None


# -------------------------------------------------------------------------------- api.json, locks

def load_api_snapshot(path: Path, root: Optional[Path] = None) -> Optional[Dict[str, Dict[str, Any]]]:
    """The `modules` of the committed API snapshot: {module: {name: signature}}; None when absent."""
    if not path.exists() and not path.is_symlink():
        return None
    root = root or path.parent
    data = load_json(read_course_text(path, root, API_SNAPSHOT_LIMIT), path, "API snapshot JSON")
    hint = "regenerate it with `tinytorch-verifier package api`"
    if not isinstance(data, dict) or not isinstance(data.get("modules"), dict):
        raise ConfigError(f"API snapshot must be an object with a \"modules\" object, found {describe(data)}"
                          if not isinstance(data, dict) else
                          "API snapshot has no \"modules\" object", path, 1, hint=hint)
    for module, names in data["modules"].items():
        if not isinstance(names, dict):
            raise ConfigError(f"API snapshot entry {module!r} must be an object of names, found {describe(names)}",
                              path, _json_key_line(path, module), hint=hint)
    return data["modules"]


def _json_key_line(path: Path, key: str) -> Optional[int]:
    needle = json.dumps(key) + ":"
    text = read_course_text_or_none(path, path.parent, API_SNAPSHOT_LIMIT) or ""
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line.replace(" ", ""):
            return number
    return None


def read_lock_text(path: Path, root: Path) -> str:
    """A lock file's text: a regular file inside the course, UTF-8, at most LOCK_LIMIT bytes."""
    return read_course_text(path, root, LOCK_LIMIT)
