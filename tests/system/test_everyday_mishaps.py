"""Everyday mishaps never crash tinytorch-verifier (exit 3): an ASCII-only or cp1252 terminal showing a non-ASCII
finding, NO_COLOR / TERM=dumb / --no-color (no escape codes at all), stdout on a full device, reports
folders that are truncated, of two courses or two wheels, or hold one Python twice, aggregate run
twice over its own output, the current folder deleted, XDG_CACHE_HOME naming a file, --jobs -3.
Each is exit 0/1/2 with at most one `tinytorch-verifier:` line saying what is wrong and where."""
from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from helpers import EMBEDDED_COURSE, MINI_PYPROJECT, REPO, write_course
from verify_reports import job_report, write_report

pytestmark = pytest.mark.system
HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"
TITO = [sys.executable, "-m", "verifier.cli"]
BASE_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONIOENCODING", "NO_COLOR", "FORCE_COLOR")}
ESC = "\x1b"

# a finding whose text holds characters that neither ASCII nor cp1252 can encode
NON_ASCII_MODULE = """\
# %%
#| default_exp core.café

# %%
#| export
import numpy as np
from tinytorch.core.模块 import helper

def double(x):
    return 2 * np.asarray(x)
"""


def tito(args: List[str], tmp_path: Path, env: Dict[str, str] = None, timeout: float = 120, **kwargs):
    full_env = {**BASE_ENV, "PYTHONPATH": str(REPO), "TITO_LOG_DIR": str(tmp_path / "crash-logs"), **(env or {})}
    kwargs.setdefault("capture_output", True)
    return subprocess.run([*TITO, *args], env=full_env, timeout=timeout, cwd=kwargs.pop("cwd", tmp_path), **kwargs)


def one_line_error(done, *mentions: str) -> str:
    """Exit 2, exactly one `tinytorch-verifier: error:` line mentioning each of `mentions`, and no traceback."""
    err = done.stderr if isinstance(done.stderr, str) else done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "internal error" not in err, err
    assert done.returncode == 2, (done.returncode, err)
    lines = [line for line in err.splitlines() if line.startswith("tinytorch-verifier:")]
    assert len(lines) == 1 and lines[0].startswith("tinytorch-verifier: error:"), err
    for mention in mentions:
        assert mention in lines[0], lines[0]
    return lines[0]


# -- 1. encodings -------------------------------------------------------------------------------------

@pytest.mark.parametrize("terminal", [
    {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},  # an ASCII-only locale
    {"PYTHONIOENCODING": "ascii"},
    {"PYTHONIOENCODING": "cp1252"},  # a Windows console: no CJK characters
], ids=["LC_ALL=C", "ascii", "cp1252"])
def test_a_non_ascii_finding_prints_on_any_terminal(terminal, tmp_path):
    course = write_course(tmp_path / "course", {"01_alpha/alpha.py": NON_ASCII_MODULE}, pyproject=MINI_PYPROJECT)
    done = tito(["package", "validate", "--course", str(course)], tmp_path, env=terminal)
    out = done.stdout.decode("ascii" if "ascii" in str(terminal) or "LC_ALL" in terminal else "cp1252")
    assert done.returncode == 1, done.stderr.decode("utf-8", "replace")
    assert "TT206" in out and "tinytorch.core.?? is not exported" in out, out
    assert b"Traceback" not in done.stderr


def _status_on_a_terminal(tmp_path: Path, env: Dict[str, str], args: List[str] = ()) -> str:
    """`tinytorch-verifier package status` with stdout and stderr on a pseudo-terminal: what the user sees."""
    reports = tmp_path / "reports"
    if not (reports / "verify.json").exists():
        write_report(reports, job_report(("3.11", "3.12"), failed="cnn"))
    main, child = pty.openpty()
    proc = subprocess.Popen([*TITO, *args, "package", "status", "--reports", str(reports)], stdout=child,
                            stderr=child, stdin=subprocess.DEVNULL, cwd=tmp_path,
                            env={**BASE_ENV, "PYTHONPATH": str(REPO), "TERM": "xterm-256color", "COLUMNS": "150",
                                 **env})
    os.close(child)
    chunks = []
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert proc.wait(timeout=60) == 1  # the report has a failed stage
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_terminal_gets_colours_by_default(tmp_path):
    """The control: on a terminal, status is coloured — so the next test's pty does show escapes."""
    assert ESC in _status_on_a_terminal(tmp_path, {})


@pytest.mark.parametrize("env, args", [({"NO_COLOR": "1"}, []), ({"NO_COLOR": "yes"}, []),
                                       ({"TERM": "dumb"}, []), ({}, ["--no-color"])],
                         ids=["NO_COLOR=1", "NO_COLOR=yes", "TERM=dumb", "--no-color"])
def test_no_color_means_no_escape_codes_at_all(env, args, tmp_path):
    seen = _status_on_a_terminal(tmp_path, env, args)
    assert "Ready for release" in seen or "Result" in seen, seen
    assert ESC not in seen, repr(seen[:400])


def test_no_color_is_accepted_after_the_command_too(tmp_path):
    write_report(tmp_path / "reports", job_report())
    done = tito(["package", "status", "--no-color", "--reports", str(tmp_path / "reports")], tmp_path, text=True)
    assert done.returncode == 0, done.stderr


def test_output_to_a_full_device_is_named_as_such(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    with open("/dev/full", "w") as full:
        done = tito(["package", "deps", "--course", str(EMBEDDED_COURSE)], tmp_path, stdout=full,
                    stderr=subprocess.PIPE, capture_output=False, text=True)
    line = one_line_error(done, "cannot write to standard output", "no space left on device")
    assert "TMPDIR" not in line and "free " not in line.split("—")[0], line


# -- 2. reports handed to aggregate and compare -------------------------------------------------------

def _matrix(root: Path, **jobs) -> Dict[str, Path]:
    return {name: write_report(root / name, data) for name, data in jobs.items()}


def test_aggregate_refuses_a_truncated_report_naming_it(tmp_path):
    files = _matrix(tmp_path / "all", linux=job_report(("3.11",)), macos=job_report(("3.12",), platform="darwin"))
    text = files["macos"].read_text(encoding="utf-8")
    files["macos"].write_text(text[: len(text) // 2], encoding="utf-8")
    done = tito(["package", "aggregate", str(tmp_path / "all"), "--reports", str(tmp_path / "out")], tmp_path,
                text=True)
    one_line_error(done, str(files["macos"]), "truncated")
    assert not (tmp_path / "out" / "verify.json").exists()


@pytest.mark.parametrize("changed, mention", [({"course_name": "tinytorch-fork"}, "two different courses"),
                                              ({"version": "0.2.0"}, "two different courses"),
                                              ({"wheel": "f" * 64}, "two different wheels")])
def test_aggregate_and_compare_refuse_reports_of_two_releases(changed, mention, tmp_path):
    files = _matrix(tmp_path / "all", linux=job_report(("3.11",)),
                    macos=job_report(("3.12",), platform="darwin", **changed))
    done = tito(["package", "aggregate", str(tmp_path / "all"), "--reports", str(tmp_path / "out")], tmp_path,
                text=True)
    one_line_error(done, mention, str(files["linux"]), str(files["macos"]))
    done = tito(["package", "compare", str(files["linux"].parent), str(files["macos"].parent)], tmp_path, text=True)
    one_line_error(done, mention, str(files["linux"]), str(files["macos"]))


def test_aggregate_refuses_one_python_reported_twice(tmp_path):
    files = _matrix(tmp_path / "all", linux=job_report(("3.11", "3.12")),
                    linux_again=job_report(("3.12",)))  # the same job downloaded twice under two names
    done = tito(["package", "aggregate", str(tmp_path / "all"), "--reports", str(tmp_path / "out")], tmp_path,
                text=True)
    one_line_error(done, "3.12", "twice", str(files["linux"]), str(files["linux_again"]))


def test_aggregate_keeps_locked_and_latest_runs_of_one_job_apart(tmp_path):
    """The release workflow uploads reports/ and reports-latest/ of each job: not duplicates."""
    job = tmp_path / "all" / "reports-ubuntu-3.12"
    write_report(job / "reports", job_report(("3.12",)))
    write_report(job / "reports-latest", job_report(("3.12",), latest=True))
    done = tito(["package", "aggregate", str(tmp_path / "all"), "--reports", str(tmp_path / "out")], tmp_path,
                text=True)
    assert done.returncode == 0, done.stderr
    rows = [p["version"] for p in json.loads((tmp_path / "out/verify.json").read_text())["pythons"]]
    assert sorted(rows) == ["3.12 reports-ubuntu-3.12", "3.12 reports-ubuntu-3.12 latest"]


def test_aggregate_twice_merges_the_same_rows(tmp_path):
    """--reports inside the folder it merges: the second run must not read the first one's output."""
    _matrix(tmp_path / "all", linux=job_report(("3.11",)), macos=job_report(("3.12",), platform="darwin"))
    runs = [tito(["package", "aggregate", "all", "--reports", "all/merged"], tmp_path, text=True) for _ in range(3)]
    for done in runs:
        assert done.returncode == 0, done.stderr
        assert "merged 2 Python rows from 2 report(s)" in done.stdout, done.stdout
    assert "skipped 1 earlier aggregate output" in runs[1].stdout
    merged = json.loads((tmp_path / "all/merged/verify.json").read_text())
    assert merged["aggregated"] is True and len(merged["pythons"]) == 2
    # a copy of an earlier output elsewhere in the folder is recognised by its mark, not its place
    shutil.copytree(tmp_path / "all/merged", tmp_path / "all/zz-old-merge")
    done = tito(["package", "aggregate", "all", "--reports", "out"], tmp_path, text=True)
    assert "merged 2 Python rows" in done.stdout and "skipped 2" in done.stdout, done.stdout


def test_status_of_a_report_of_the_wrong_shape_is_one_line(tmp_path):
    data = job_report()
    data["pythons"][0]["stages"][0]["seconds"] = "fast"
    path = write_report(tmp_path / "reports", data)
    done = tito(["package", "status", "--reports", str(tmp_path / "reports")], tmp_path, text=True)
    one_line_error(done, str(path), "pythons[0].stages[0].seconds")


# -- 3. the process's surroundings ----------------------------------------------------------------------

def test_a_deleted_current_folder_is_one_line(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    code = (f"import os, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
            "from verifier.cli import main; sys.exit(main(['package', 'validate']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**BASE_ENV, "PYTHONPATH": str(REPO), "TITO_LOG_DIR": str(tmp_path)})
    one_line_error(done, "current folder no longer exists")


def test_xdg_cache_home_naming_a_file_is_a_warning_not_a_crash(tmp_path):
    from faults import copy_course

    course = copy_course(tmp_path / "course")
    not_a_folder = tmp_path / "cache-file"
    not_a_folder.write_text("")
    done = tito(["export", "01_tensor", "--course", str(course), "--python", HERE], tmp_path,
                env={"XDG_CACHE_HOME": str(not_a_folder), "TITO_CACHE": ""}, text=True, timeout=600)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    assert done.returncode in (0, 1, 2), done.stderr
    assert f"cannot cache in {not_a_folder}" in done.stderr and "is a file, not a folder" in done.stderr
    assert "exported 1 module file(s)" in done.stdout


@pytest.mark.parametrize("jobs", ["-3", "0"])
def test_jobs_below_one_is_a_usage_error(jobs, tmp_path):
    done = tito(["package", "test", "--quick", "--course", str(EMBEDDED_COURSE), "--python", HERE, "--jobs", jobs,
                 "--reports", str(tmp_path / "reports")], tmp_path, text=True, timeout=60)
    one_line_error(done, f"--jobs {jobs}")


def test_status_with_non_ascii_failures_prints_on_an_ascii_terminal(tmp_path):
    """The rich tables of `status` (rich draws ASCII boxes; the text's é and 模 become ?)."""
    write_report(tmp_path / "reports", job_report(("3.11", "3.12"), failed="cnn"))
    done = tito(["package", "status", "--reports", str(tmp_path / "reports")], tmp_path,
                env={"PYTHONIOENCODING": "ascii"})
    out = done.stdout.decode("ascii")
    assert done.returncode == 1, done.stderr.decode("utf-8", "replace")
    assert "Next: fix 01_caf?" in out and "Ready for release: NO" in out, out
