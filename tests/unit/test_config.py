"""The typed configuration layer: wrong types are one line with file:line, limits refuse hostile
YAML and JSON fast, requires-python has one definition of validity, folders stay inside the course."""
from __future__ import annotations

import sys
from collections import Counter

import pytest
import yaml
from helpers import MINI_MODULE, MINI_PYPROJECT, write_course

from verifier.course import yamlsafe
from verifier.course.config import (
    ConfigError,
    load_api_snapshot,
    load_json,
    load_settings,
    parse_module_yaml,
    parse_pyproject,
    requires_python_spec,
    toml_key_line,
)
from verifier.course.discovery import load_course
from verifier.course.yamlsafe import YAML_MAX_DEPTH
from verifier.errors import CourseError


@pytest.mark.parametrize("change, expected, line", [
    (('dependencies = ["numpy"]', 'dependencies = "numpy"'), "[project] dependencies must be a list of strings, "
                                                             "found a string", 9),
    (('dependencies = ["numpy"]', 'dependencies = [1, 2]'), "found a list containing a number", 9),
    (('name = "tinytorch"', 'name = {a = 1}'), "[project] name must be a string, found a table", 6),
    (('version = "0.0.1"', 'version = 1.5'), "[project] version must be a string, found a number", 7),
    (('requires-python = ">=3.9"', 'requires-python = ">=3.9,,banana"'), "'>=3.9,,banana' is not a valid", 8),
    (('requires-python = ">=3.9"', 'requires-python = 3.9'), "requires-python must be a string", 8),
    (('classifiers = [', 'classifiers = true\nx = ['), "classifiers must be a list of strings, found a boolean", 10),
])
def test_a_wrong_type_in_project_is_one_line_with_its_line(change, expected, line, tmp_path):
    path = tmp_path / "pyproject.toml"
    text = MINI_PYPROJECT.replace(*change)
    with pytest.raises(ConfigError) as caught:
        parse_pyproject(text, path)
    assert expected in str(caught.value) and caught.value.line == line
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("tail, expected", [
    ('\n[tool]\ntinytorch = [1]\n', "[tool.tinytorch] must be a table, found a list"),
    ('\n[tool.tinytorch]\nmodules = 5\n', "[tool.tinytorch] modules must be a string, found a number"),
    ('\n[tool.tinytorch]\npackage = "../../evil"\n', "is not a Python package name inside the course"),
    ('\n[tool.tinytorch]\nmodules = "../elsewhere"\n', "points outside the course"),
    ('\n[tool.tinytorch]\nmodules = "/etc"\n', "points outside the course"),
    ('\n[tool.tinytorch]\nlocation = "a b"\n', "is not a dotted module path"),
])
def test_tool_tinytorch_is_checked(tail, expected, tmp_path):
    with pytest.raises(ConfigError) as caught:
        parse_pyproject(MINI_PYPROJECT + tail, tmp_path / "pyproject.toml")
    assert expected in str(caught.value) and caught.value.line is not None


def test_project_that_is_not_a_table(tmp_path):
    with pytest.raises(ConfigError, match=r"pyproject.toml:1: \[project\] must be a table, found a string"):
        parse_pyproject('project = "x"\n', tmp_path / "pyproject.toml")


def test_a_modules_link_out_of_the_course_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = write_course(tmp_path / "course", {"01_alpha/alpha.py": MINI_MODULE},
                        pyproject=MINI_PYPROJECT + '\n[tool.tinytorch]\nmodules = "linked"\n')
    (root / "linked").symlink_to(outside)
    with pytest.raises(CourseError, match="points outside the course"):
        load_course(root)


def test_toml_key_line_finds_dotted_and_sectioned_keys():
    text = "[project]\nname = 'x'\n\n[tool.tinytorch]\npackage = 'y'\n"
    assert toml_key_line(text, "project", "name") == 2
    assert toml_key_line(text, "tool.tinytorch", "package") == 5
    assert toml_key_line("tool.tinytorch.package = 1\n", "tool.tinytorch", "package") == 1
    assert toml_key_line(text, "project", "missing") == 1


def test_requires_python_one_definition():
    assert str(requires_python_spec(">=3.9,<3.14")) in ("<3.14,>=3.9", ">=3.9,<3.14")
    for bad in ("3.9", ">=3.9,,banana", "banana", ">= 3.9 or 3.10"):
        with pytest.raises(ConfigError, match="is not a valid version specifier"):
            requires_python_spec(bad)


@pytest.mark.parametrize("text, expected", [
    ("[DEFAULT]\nlib_path = ../evil\n", "lib_path '../evil' is not a Python package name"),
    ("[DEFAULT]\nnbs_path = /etc\n", "nbs_path '/etc' points outside the course"),
    ("[DEFAULT]\nmin_python = banana\n", "is not a valid version specifier"),
    ("lib_name = a\n", "no section headers"),
])
def test_settings_ini_is_checked(text, expected, tmp_path):
    path = tmp_path / "settings.ini"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert expected in str(caught.value) and caught.value.line is not None


def test_settings_ini_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "settings.ini"
    path.write_bytes(b"\xe9[DEFAULT]\n")  # (\xff\xfe would be a UTF-16 byte-order mark, named as such)
    with pytest.raises(CourseError, match=r"settings.ini:1: not valid UTF-8"):
        load_settings(path)


def alias_bomb(levels: int = 9, fan: int = 9) -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]")
    return "\n".join(lines) + "\n"


def calls_while(run, *functions) -> Counter:
    """How many times each code object of `functions` was entered while `run()` ran (the work done,
    which a busy machine cannot change, unlike a wall-clock bound)."""
    codes = {code: code.co_name for code in functions}
    calls: Counter = Counter()

    def profile(frame, event, _arg):
        if event == "call" and frame.f_code in codes:
            calls[codes[frame.f_code]] += 1
    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return calls


def test_an_alias_bomb_is_refused_before_it_expands():
    """9**10 leaves once expanded; refused after composing each written node once, a memoised walk that
    visits no more than the written nodes, and no value constructed."""
    levels, fan = 9, 9
    written = 1 + 2 * (levels + 1) + fan + levels * fan  # the mapping, its keys and lists, "x"s, aliases
    size = next(c for c in yamlsafe.expanded_size.__code__.co_consts if getattr(c, "co_name", "") == "size")
    loaded = []
    calls = calls_while(lambda: loaded.append(parse_module_yaml(alias_bomb(levels, fan))),
                        yamlsafe.LimitedSafeLoader.compose_node.__code__, size,
                        yaml.constructor.BaseConstructor.construct_document.__code__)
    assert loaded[0].data is None and "alias" in loaded[0].problem[0] and loaded[0].problem[1]
    assert calls["compose_node"] == written  # aliases are not expanded while composing
    assert 0 < calls["size"] <= written and calls["construct_document"] == 0


def test_a_small_alias_bomb_under_the_use_count_is_refused_by_its_expanded_size():
    loaded = parse_module_yaml(alias_bomb(levels=5, fan=9) .replace('["x", "x", "x", "x", "x", "x", "x", "x", "x"]',
                                                                     "[" + ", ".join(["x"] * 60) + "]"))
    assert loaded.data is None and "expands to more than" in loaded.problem[0]


def test_ordinary_aliases_are_fine():
    loaded = parse_module_yaml("base: &b [a, b]\ndependencies:\n  prerequisites: *b\n")
    assert loaded.problem is None and loaded.data["dependencies"]["prerequisites"] == ["a", "b"]


@pytest.mark.parametrize("text", ["x: " + "[" * 20000 + "]" * 20000 + "\n",
                                  "".join("  " * i + "k:\n" for i in range(200)) + "  " * 200 + "k: 1\n"])
def test_deep_yaml_is_one_problem_not_a_recursion_error(text):
    loaded = parse_module_yaml(text)
    assert loaded.data is None and f"nested more than {YAML_MAX_DEPTH} levels" in loaded.problem[0]


@pytest.mark.parametrize("value, expected", [("../../../etc/passwd", "points outside"),
                                             ("/etc/passwd", "points outside"),
                                             ("{a: 1}", "must be a file name, found a table")])
def test_dev_file_must_stay_inside(value, expected, tmp_path):
    folder = tmp_path / "modules" / "01_alpha"
    folder.mkdir(parents=True)
    loaded = parse_module_yaml(f"name: alpha\nfiles:\n  dev_file: {value}\n", folder, tmp_path / "modules")
    assert loaded.data is None and expected in loaded.problem[0] and loaded.problem[1] == 2


def test_deep_json_is_refused_without_recursion(tmp_path):
    with pytest.raises(ConfigError, match=r"x.ipynb:1: not valid notebook JSON: nested more than 64 levels"):
        load_json('{"cells": ' + "[" * 100000 + "]" * 100000 + "}", tmp_path / "x.ipynb", "notebook JSON")
    brackets_in_a_string = "[" * 100  # not nesting: the depth scan skips strings
    assert load_json('{"a": "%s"}' % brackets_in_a_string, tmp_path / "x.json") == {"a": brackets_in_a_string}


@pytest.mark.parametrize("text, expected", [("[1, 2]", "must be an object"), ('{"modules": 3}', 'no "modules" object'),
                                            ('{"modules": {"a": [1]}}', "entry 'a' must be an object"),
                                            ('{"modules": ', "not valid API snapshot JSON")])
def test_api_snapshot_shape(text, expected, tmp_path):
    path = tmp_path / "api.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_api_snapshot(path)


def test_embedded_course_reads_clean():
    from helpers import EMBEDDED_COURSE
    course = load_course(EMBEDDED_COURSE)
    assert all(m.meta_problem is None for m in course.modules)
    assert load_api_snapshot(EMBEDDED_COURSE / "api.json")
