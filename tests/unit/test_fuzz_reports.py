"""Fuzz: verify.json files handed to `tinytorch-verifier package aggregate`, `compare`, `status` and `report` —
truncated, mistyped at a random place, missing a key, random JSON or random bytes — in-process through
the cli's `main`. Every run exits 0, 1 or 2, prints no traceback, and an error is one
`tinytorch-verifier: error:` line naming the file it is about. (The style of test_fuzz_courses.py.)"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from pathlib import Path
from typing import Any, List, Tuple, Union

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from verify_reports import job_report  # noqa: E402

from verifier.cli import main  # noqa: E402

ODD_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
JSON_DATA = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), ODD_TEXT,
              st.sampled_from(["passed", "failed", "not run", "NOT VERIFIED", "3.12", "", "é模"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(ODD_TEXT, inner, max_size=3)),
    max_leaves=8)
Key = Union[str, int]


def _paths(value: Any, at: Tuple[Key, ...] = ()) -> List[Tuple[Key, ...]]:
    """Every place in a JSON tree (the root excluded)."""
    found: List[Tuple[Key, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found.append(at + (key,))
        found += _paths(child, at + (key,))
    return found


def _parent(tree: Any, path: Tuple[Key, ...]) -> Any:
    for key in path[:-1]:
        tree = tree[key]
    return tree


@st.composite
def report_files(draw, platform: str) -> bytes:
    """One job's verify.json (of `platform`, so that two jobs are not one Python twice), maybe broken."""
    base = job_report(draw(st.sampled_from([("3.12",), ("3.11", "3.12")])), failed=draw(st.sampled_from(["", "cnn"])),
                      platform=platform)
    kind = draw(st.sampled_from(["valid", "truncated", "retyped", "retyped", "retyped", "dropped", "json", "bytes"]))
    event(kind)
    if kind == "json":
        return json.dumps(draw(JSON_DATA)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    text = json.dumps(base, indent=2, ensure_ascii=False).encode("utf-8")
    if kind == "truncated":
        return text[:draw(st.integers(0, len(text) - 1))]
    data = copy.deepcopy(base)
    paths = _paths(data)
    path = paths[draw(st.integers(0, len(paths) - 1))]
    parent = _parent(data, path)
    if kind == "retyped":
        parent[path[-1]] = draw(JSON_DATA)
    elif kind == "dropped":
        del parent[path[-1]]
    return json.dumps(data, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


def run_tito(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse
            code = stop.code
    return code, out.getvalue(), err.getvalue()


def check(command: List[str], mention: str) -> int:
    code, out, err = run_tito(command)
    event(f"{command[1]}: exit {code}")
    assert code in (0, 1, 2), f"{command}: exit {code}\n{err[-2000:]}"
    assert "Traceback" not in out + err, (out + err)[-2000:]
    if code == 2:
        errors = [line for line in err.splitlines() if line.startswith("tinytorch-verifier: error:")]
        assert len(errors) == 1, err
        assert mention in errors[0], errors[0]
    return code


@settings(max_examples=400, deadline=None, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(first=report_files("linux-x86_64"), second=report_files("darwin-arm64"))
def test_report_files_never_crash_aggregate_compare_status_or_report(first, second, crash_logs):
    with tempfile.TemporaryDirectory(prefix="tito-fuzz-reports-") as work:
        root = Path(work)
        jobs = root / "all"
        for name, data in (("linux", first), ("macos", second)):
            (jobs / name).mkdir(parents=True)
            (jobs / name / "verify.json").write_bytes(data)
        check(["package", "aggregate", str(jobs), "--reports", str(root / "out")], str(jobs))
        check(["package", "compare", str(jobs / "linux"), str(jobs / "macos")], str(jobs))
        if check(["package", "status", "--reports", str(jobs / "linux")], "verify.json") != 2:
            for fmt in ("markdown", "json", "junit", "html"):  # a report status accepts renders in every format
                assert check(["package", "report", "--reports", str(jobs / "linux"), "--format", fmt], "") == 0


@pytest.fixture(scope="module")
def crash_logs(tmp_path_factory):
    """Crash logs of this test go to a folder of its own (read them when an example fails)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TITO_LOG_DIR", str(tmp_path_factory.mktemp("crash-logs")))
    yield
    mp.undo()
