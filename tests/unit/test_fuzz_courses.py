"""Fuzz: generated malformed courses (odd TOML values, YAML shapes, notebook JSON, sources with BOMs,
special characters, empty files) thrown at `tinytorch-verifier package validate`, `tinytorch-verifier package deps` and
`tinytorch-verifier export`, in-process through the cli's `main`. Every run must exit 0, 1 or 2 — never 3 (a crash of
the verifier) — print no traceback and finish in bounded time and memory. About a minute in all."""
from __future__ import annotations

import contextlib
import io
import json
import resource
import tempfile
import time
from pathlib import Path

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from helpers import MINI_MODULE, MINI_PYPROJECT  # noqa: E402
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from verifier.cli import main  # noqa: E402

COMMANDS = (["package", "validate"], ["package", "deps"], ["export"])
SECONDS_PER_COMMAND = 20
MAX_RSS_GROWTH_MIB = 512

ODD_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
SPECIAL = st.sampled_from(["", "\ufeff", "\x00", "\u202e", "é", "💥", "\r", "\t", "#| export", "# %%", "{{", "&a", "*a",
                           "..", "../..", "/etc/passwd", "nan", "inf", "1e999", "0x10"])

# TOML values of every type, to put where the schema expects something else
TOML_VALUES = st.recursive(
    st.one_of(st.integers(-10**20, 10**20).map(str), st.booleans().map(lambda b: str(b).lower()),
              st.floats(allow_nan=False, allow_infinity=False).map(repr), ODD_TEXT.map(json.dumps),
              SPECIAL.map(json.dumps), st.just("1979-05-27T07:32:00Z")),
    lambda inner: st.one_of(st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
                            st.lists(inner, max_size=3).map(
                                lambda xs: "{" + ", ".join(f"k{i} = {x}" for i, x in enumerate(xs)) + "}")),
    max_leaves=8)
PROJECT_KEYS = st.sampled_from(["name", "version", "requires-python", "dependencies", "classifiers", "readme",
                                "optional-dependencies", "dynamic"])
TOOL_KEYS = st.sampled_from(["package", "location", "modules", "init"])


@st.composite
def pyprojects(draw) -> bytes:
    # half of the courses have a good pyproject.toml, so that module.yaml and the sources get read too
    kind = draw(st.sampled_from(["valid"] * 5 + ["project-key", "tool-key", "garbage", "empty", "bom"]))
    if kind == "valid":
        return MINI_PYPROJECT.encode()
    if kind == "project-key":
        key, value = draw(PROJECT_KEYS), draw(TOML_VALUES)
        lines = [line for line in MINI_PYPROJECT.splitlines() if not line.startswith(f"{key} =")]
        at = lines.index("[project]") + 1
        return "\n".join(lines[:at] + [f"{key} = {value}"] + lines[at:]).encode("utf-8", "surrogatepass")
    if kind == "tool-key":
        return (MINI_PYPROJECT + f"\n[tool.tinytorch]\n{draw(TOOL_KEYS)} = {draw(TOML_VALUES)}\n").encode()
    if kind == "garbage":
        return draw(st.one_of(ODD_TEXT.map(str.encode), st.binary(max_size=60)))
    if kind == "bom":
        return b"\xef\xbb\xbf" + MINI_PYPROJECT.encode()
    return b""


YAML_DATA = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), ODD_TEXT, SPECIAL),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(ODD_TEXT, st.sampled_from(
                                ["name", "exports_to", "dependencies", "prerequisites", "files", "dev_file",
                                 "components"])), inner, max_size=4)),
    max_leaves=12)


@st.composite
def module_yamls(draw):
    kind = draw(st.sampled_from(["data", "shaped", "text", "none", "empty"]))
    if kind == "data":
        return yaml.safe_dump(draw(YAML_DATA), allow_unicode=True).encode("utf-8", "surrogatepass")
    if kind == "shaped":
        data = {"name": "alpha", "exports_to": draw(st.one_of(st.just("tinytorch.core.alpha"), YAML_DATA)),
                "dependencies": {"prerequisites": draw(YAML_DATA)}, "files": {"dev_file": draw(YAML_DATA)}}
        return yaml.safe_dump(data, allow_unicode=True).encode("utf-8", "surrogatepass")
    if kind == "text":
        return draw(st.one_of(ODD_TEXT, SPECIAL)).encode("utf-8", "surrogatepass")
    return None if kind == "none" else b""


JSON_DATA = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), ODD_TEXT),
                         lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                 st.dictionaries(ODD_TEXT, inner, max_size=3)), max_leaves=10)


@st.composite
def sources(draw):
    """(file name, bytes) of the module source."""
    kind = draw(st.sampled_from(["percent", "cells", "notebook", "notebook-shaped", "bytes", "empty"]))
    if kind == "percent":
        prefix = draw(st.sampled_from(["", "\ufeff", "\n\n", "# ---\n"]))
        return "alpha.py", (prefix + MINI_MODULE + draw(ODD_TEXT)).encode("utf-8", "surrogatepass")
    if kind == "cells":
        cells = draw(st.lists(st.tuples(st.sampled_from(["", " [markdown]", " [raw]", "#| export", "#| hide",
                                                         "#| default_exp core.alpha", "#| export ../x",
                                                         "#| default_exp", "#| exporti"]),
                                        st.one_of(ODD_TEXT, SPECIAL, st.just("def f(:\n"))), max_size=5))
        text = "".join(f"# %%{h}\n{b}\n" if h.startswith(" ") or not h else f"# %%\n{h}\n{b}\n" for h, b in cells)
        return "alpha.py", text.encode("utf-8", "surrogatepass")
    if kind == "notebook":
        return "alpha.ipynb", json.dumps(draw(JSON_DATA)).encode()
    if kind == "notebook-shaped":
        cells = draw(st.lists(st.fixed_dictionaries({"cell_type": st.one_of(st.sampled_from(["code", "markdown"]),
                                                                             JSON_DATA),
                                                      "source": st.one_of(ODD_TEXT, st.lists(ODD_TEXT), JSON_DATA)}),
                              max_size=3))
        return "alpha.ipynb", json.dumps({"cells": cells}).encode()
    if kind == "bytes":
        return "alpha.py", draw(st.binary(max_size=80))
    return "alpha.py", b""


def write(root: Path, pyproject: bytes, module_yaml, source) -> None:
    folder = root / "modules" / "01_alpha"
    folder.mkdir(parents=True)
    (root / "pyproject.toml").write_bytes(pyproject)
    if module_yaml is not None:
        (folder / "module.yaml").write_bytes(module_yaml)
    name, data = source
    (folder / name).write_bytes(data)


def run_tito(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse
            code = stop.code
    return code, out.getvalue() + err.getvalue()


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


RSS_AT_START = _rss_mib()


# 600 random courses a run (each validated, exported and graphed): ~80 s; no example database, so every
# CI run draws new ones (1500 took 200 s once validation also checked [project] with validate-pyproject)
@settings(max_examples=600, deadline=None, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(pyproject=pyprojects(), module_yaml=module_yamls(), source=sources())
def test_malformed_courses_never_crash_the_verifier(pyproject, module_yaml, source, monkeypatch_env):
    with tempfile.TemporaryDirectory(prefix="tito-fuzz-") as work:
        root = Path(work) / "course"
        write(root, pyproject, module_yaml, source)
        for command in COMMANDS:
            started = time.monotonic()
            code, output = run_tito([*command, "--course", str(root)])
            event(f"{' '.join(command)}: exit {code}")
            assert code in (0, 1, 2), f"{command}: exit {code}\n{output[-2000:]}"
            assert "Traceback" not in output, output[-2000:]
            assert time.monotonic() - started < SECONDS_PER_COMMAND, command
    assert _rss_mib() - RSS_AT_START < MAX_RSS_GROWTH_MIB


@pytest.fixture(scope="module")
def monkeypatch_env(tmp_path_factory):
    """Crash logs of this test go to a folder of its own (read them when an example fails)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TITO_LOG_DIR", str(tmp_path_factory.mktemp("crash-logs")))
    yield
    mp.undo()


# The configuration readers on their own: any text gives data or one ConfigError/problem, nothing else.
@settings(max_examples=300, deadline=None, database=None, print_blob=True)
@given(text=st.one_of(ODD_TEXT, YAML_DATA.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
                      st.lists(st.sampled_from(["a: &x [1]\n", "b: *x\n", "- ", "  ", "[", "{", "]", "}", "k: v\n",
                                                "!!binary x\n", "? a\n", ": b\n", "*x\n", "&y\n"]), max_size=30)
                      .map("".join)))
def test_module_yaml_reader_never_raises(text):
    from verifier.course.config import parse_module_yaml
    loaded = parse_module_yaml(text)
    assert (loaded.data is None) != (loaded.problem is None)
    if loaded.problem:
        assert "\n" not in loaded.problem[0]


TOML_PIECES = ["[project]\n", "[tool.tinytorch]\n", "name = ", "1", "'x'",
               "[", "]", "{", "}", "=", ",", "\n", "a.b = ", '"..', "[[x]]\n"]


@settings(max_examples=300, deadline=None, database=None, print_blob=True)
@given(text=st.one_of(ODD_TEXT, st.lists(st.sampled_from(TOML_PIECES), max_size=30).map("".join)))
def test_pyproject_reader_raises_only_config_errors(text):
    from verifier.course.config import ConfigError, parse_pyproject
    try:
        data = parse_pyproject(text, Path("/nonexistent/course/pyproject.toml"))
    except ConfigError as error:
        assert "\n" not in str(error)
    else:
        assert isinstance(data, dict)
