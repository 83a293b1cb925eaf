"""`tinytorch-verifier package validate` as a process (what a pre-commit hook or an editor runs) does only the work
validation needs. Asserted on the work done, never on seconds (a timed test flakes on a shared machine;
`tinytorch-verifier bench --validate` measures the seconds): parsing the arguments imports no command implementation
and no heavy library; a run on a warm cache imports neither jupytext nor validate-pyproject; and the
findings are the same, byte for byte, with a cold cache and a warm one — on a course whose findings go
through every cache (TT010 from validate-pyproject, TT260 from a test file, cells split by jupytext)."""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

from helpers import EMBEDDED_COURSE, REPO

from verifier.bench.process import TARGET_SECONDS, ProcessTiming, render

HEAVY_LIBRARIES = ("rich", "jupytext", "nbformat", "jsonschema", "tomlkit", "validate_pyproject", "fastjsonschema")
# what validation never needs: the verify pipeline, the runners, the renderers of a verify result
VERIFY_ONLY = ("verifier.pipeline", "verifier.runner.scenarios", "verifier.runner.envs", "verifier.render",
               "verifier.package", "verifier.bench")

LOADED = """
import json, sys
def loaded(names):
    return sorted(m for m in sys.modules if any(m == n or m.startswith(n + ".") for n in names))
"""


def _python(code: str, env_cache: Path, cwd: Path) -> Tuple[str, str, int]:
    env = {"PATH": "/usr/bin:/bin", "TITO_CACHE": str(env_cache), "NO_COLOR": "1",
           "PYTHONPATH": str(REPO), "HOME": str(env_cache.parent)}
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    return done.stdout, done.stderr, done.returncode


def test_parsing_validate_arguments_imports_no_command_and_no_heavy_library(tmp_path):
    code = LOADED + f"""
from verifier.cli.main import build_parser
args = build_parser().parse_args(["package", "validate", "--course", "course", "--format", "json"])
assert args.func.__name__ == "cmd_validate"
print(json.dumps(loaded({list(HEAVY_LIBRARIES + VERIFY_ONLY)!r} + ["verifier.checks", "verifier.course", "yaml"])))
"""
    out, err, status = _python(code, tmp_path / "cache", tmp_path)
    assert status == 0, err
    assert json.loads(out) == []


def _seeded_course(root: Path) -> Path:
    """The embedded course with two findings that come out of the caches: an invalid [project] value
    (TT010, validate-pyproject) and a conftest that patches numpy (TT260, the test-file cache)."""
    shutil.copytree(EMBEDDED_COURSE, root, ignore=shutil.ignore_patterns("tinytorch", "dist", "build", ".tito"))
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    assert 'requires-python = ">=3.9"' in text  # packaging accepts the empty clause, setuptools' schema does not
    pyproject.write_text(text.replace('requires-python = ">=3.9"', 'requires-python = ">=3.9,,<4"', 1),
                         encoding="utf-8")
    conftest = root / "tests" / "conftest.py"
    before = conftest.read_text(encoding="utf-8") if conftest.exists() else ""
    conftest.write_text(before + "\nimport numpy as np\nnp.row_stack = np.vstack\n", encoding="utf-8")
    return root


def _validate_runs(course: Path, cache: Path, cwds: List[Path]) -> List[Tuple[str, List[str], int]]:
    """One `tinytorch-verifier package validate --format json` process per working folder: (stdout, heavy modules,
    exit)."""
    code = LOADED + f"""
from verifier.cli.main import main
status = main(["package", "validate", "--course", {str(course)!r}, "--format", "json"])
sys.stdout.flush()
print(json.dumps([status, loaded({list(HEAVY_LIBRARIES)!r})]), file=sys.stderr)
"""
    runs = []
    for cwd in cwds:
        cwd.mkdir(exist_ok=True)
        out, err, status = _python(code, cache, cwd)
        assert status == 0, err
        exit_code, heavy = json.loads(err.strip().splitlines()[-1])
        runs.append((out, heavy, exit_code))
    return runs


def test_warm_caches_skip_jupytext_and_validate_pyproject_and_change_no_finding(tmp_path):
    """Run 1 fills every cache; run 2 (same command) takes the whole output from the output cache; run 3
    (another working folder, so another output key) runs every check on the per-file caches."""
    course = _seeded_course(tmp_path / "course")
    (cold_out, cold_heavy, cold_code), (warm_out, _, warm_code), (files_out, files_heavy, files_code) = \
        _validate_runs(course, tmp_path / "cache", [tmp_path, tmp_path, tmp_path / "elsewhere"])
    codes = {f["code"] for f in json.loads(cold_out)["findings"]}
    assert {"TT010", "TT260"} <= codes, codes  # the seeded findings fire, so the caches carry findings
    assert cold_code == warm_code == files_code == 1
    assert warm_out == cold_out and files_out == cold_out  # the same JSON, finding for finding
    # the cold run did the work the caches then save (so the assertion below is not vacuous)
    assert "validate_pyproject" in cold_heavy
    # the seeded source is plain percent format: even the cold run splits it without importing jupytext
    # (course/percent_reader.py, proven equal to jupytext in test_percent_reader.py)
    assert "jupytext" not in cold_heavy
    assert [m for m in files_heavy if m.split(".")[0] in ("jupytext", "nbformat", "validate_pyproject",
                                                           "fastjsonschema", "rich")] == []
    if sys.version_info >= (3, 11):  # tomllib reads pyproject.toml; tomlkit only for a TOML error's message
        assert not [m for m in files_heavy if m.startswith("tomlkit")]


def test_the_output_cache_answers_without_reading_the_course_again(tmp_path):
    course = _seeded_course(tmp_path / "course")
    code = LOADED + f"""
from verifier.cli.main import main
main(["package", "validate", "--course", {str(course)!r}, "--format", "json"])
print(json.dumps(loaded(["verifier.checks.context", "verifier.course.analysis", "yaml"])), file=sys.stderr)
"""
    _, first, _ = _python(code, tmp_path / "cache", tmp_path)
    assert json.loads(first.strip().splitlines()[-1])  # the first run read the course
    _, err, status = _python(code, tmp_path / "cache", tmp_path)
    assert status == 0 and json.loads(err.strip().splitlines()[-1]) == []


def test_any_change_in_the_course_tree_is_a_new_output_key(tmp_path):
    from verifier.checks.output_cache import output_key

    course = _seeded_course(tmp_path / "course")
    first = output_key(course, None, "json")
    assert first is not None and output_key(course, None, "json") == first
    (course / "modules" / "notes.txt").write_text("x", encoding="utf-8")
    second = output_key(course, None, "json")
    assert second not in (None, first)
    assert output_key(course, None, "text") != second and output_key(course, "01_tensor", "json") != second
    os.mkfifo(course / "tests" / "pipe")  # counted by kind, never opened (opening would block)
    assert output_key(course, None, "json") not in (None, second)
    (course / "link").symlink_to(tmp_path)  # a read could follow it out of the tree: not cached
    assert output_key(course, None, "json") is None


def test_a_changed_test_file_is_read_again_not_taken_from_the_cache(tmp_path):
    course = _seeded_course(tmp_path / "course")
    _validate_runs(course, tmp_path / "cache", [tmp_path, tmp_path / "elsewhere"])
    conftest = course / "tests" / "conftest.py"
    conftest.write_text(conftest.read_text(encoding="utf-8").replace("np.row_stack = np.vstack\n", ""),
                        encoding="utf-8")
    [(out, _, _)] = _validate_runs(course, tmp_path / "cache", [tmp_path])
    assert "TT260" not in {f["code"] for f in json.loads(out)["findings"]}


def test_bench_table_says_whether_the_target_is_met():
    fast = ProcessTiming("python -m verifier.cli package validate", ["x"], wall=[0.2, 0.25, 0.9], cpu=[0.2] * 3,
                         first=1.0)
    slow = ProcessTiming("tinytorch-verifier package validate", ["tinytorch-verifier"], wall=[TARGET_SECONDS + 0.1] * 3,
                         cpu=[0.3] * 3)
    absent = ProcessTiming("other", [], missing="no `tinytorch-verifier` script")
    table = render([fast, slow, absent], Path("course"), 3, "1.00 1.00 1.00", "1.10 1.00 1.00")
    lines = table.splitlines()
    assert "load average 1.00 1.00 1.00 before" in lines[0]
    assert lines[2].split()[-1] == "met" and "0.250s" in lines[2] and "0.200-0.900s" in lines[2]
    assert lines[3].split()[-1] == "MISSED"
    assert "not timed: no `tinytorch-verifier` script" in lines[4]


def test_bench_refuses_zero_runs_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "verifier.cli", "bench", "--validate", "--runs", "0"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--runs must be at least 1" in done.stderr


def test_no_module_of_the_cli_imports_a_command_implementation_at_module_level():
    """cli/main.py builds the parser from light modules (commands.py: the `cmd_*` functions); each
    command imports its library function when it runs."""
    light = {"__future__", "argparse", "os", "sys", "pathlib", "typing", ".", ".main"}
    for path in sorted((REPO / "verifier" / "cli").glob("*.py")):
        top_level = [node for node in ast.parse(path.read_text(encoding="utf-8")).body
                     if isinstance(node, (ast.Import, ast.ImportFrom))]
        names = {"." * node.level + (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
                 for node in top_level for alias in node.names}
        assert names <= light, (path.name, names - light)
