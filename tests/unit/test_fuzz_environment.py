"""Fuzz the environment `tinytorch-verifier` runs in (not the course): TMPDIR missing, a file or unwritable; HOME,
XDG_CACHE_HOME and XDG_CONFIG_HOME missing or a file; the working directory deleted under it; the locale
C, POSIX, C.UTF-8 or unknown; COLUMNS 0, 1, huge or garbage; the course under a non-ASCII path.
`tinytorch-verifier package validate` and `tinytorch-verifier package deps` run on the embedded course as a child
process (the environment is the child's own): exit 0, 1 or 2 — never 3 (a crash), never a traceback, at most one
stderr line when refusing (2), and an end within a timeout (a hang guard, not a speed bound).
Each example is a subprocess, so the examples are few: 16 drawn + 4 explicit + 2 known crashes (with 20
drawn: 2 min 8 s wall, 35 s CPU, on 2 cores shared with other work)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import pytest

hypothesis = pytest.importorskip("hypothesis")
from helpers import EMBEDDED_COURSE, without_permission_override  # noqa: E402
from hypothesis import HealthCheck, currently_in_test_context, event, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TITO = [sys.executable, "-m", "verifier.cli"]
HANG_GUARD_SECONDS = 180  # validate/deps of the embedded course take about a second
COMMANDS = ("validate", "deps")
LOCALE_VARS = ("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES")

# how each part of the environment can be broken ("ok": a fresh, usable value)
TMPDIRS = ("inherit", "missing", "file", "unwritable")
HOMES = ("ok", "missing", "file")
XDGS = ("unset", "missing", "file")
# where tinytorch-verifier runs from: the course itself (no --course), another folder, a folder deleted under it
# (with and without --course)
CWDS = ("course", "elsewhere", "deleted", "deleted-no-course")
LOCALES = (None, "C", "POSIX", "C.UTF-8", "xx_YY.bogus")
COLUMNS = (None, "0", "1", "-5", "99999999999999999999", "abc", "")


@dataclass(frozen=True)
class Environment:
    command: str
    tmpdir: str = "inherit"
    home: str = "ok"
    xdg_cache: str = "unset"
    xdg_config: str = "unset"
    cwd: str = "elsewhere"
    locale: Optional[str] = None
    columns: Optional[str] = None
    non_ascii_course: bool = False


environments = st.builds(
    Environment, command=st.sampled_from(COMMANDS), tmpdir=st.sampled_from(TMPDIRS), home=st.sampled_from(HOMES),
    xdg_cache=st.sampled_from(XDGS), xdg_config=st.sampled_from(XDGS), cwd=st.sampled_from(CWDS),
    locale=st.sampled_from(LOCALES), columns=st.sampled_from(COLUMNS), non_ascii_course=st.booleans())


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def _broken(work: Path, name: str, how: str) -> Optional[str]:
    """A path for an environment variable, broken as `how` says (None: leave the variable unset)."""
    path = work / name
    if how in ("unset", "inherit"):
        return None
    if how == "ok":
        path.mkdir()
    elif how == "file":
        path.write_text("not a folder\n")
    elif how == "unwritable":
        path.mkdir()
        path.chmod(0o500)
    return str(path)  # "missing": a path that does not exist


def run_in(env_spec: Environment, work: Path) -> Outcome:
    """`tinytorch-verifier package <command>` in the environment `env_spec` describes, built inside `work`."""
    env: Dict[str, str] = {k: v for k, v in os.environ.items()
                           if k not in LOCALE_VARS + ("COLUMNS", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "TITO_CACHE")}
    env["TITO_LOG_DIR"] = str(work / "crash-logs")  # a crash's log stays here, not in the real temp folder
    for var, name, how in (("TMPDIR", "tmp", env_spec.tmpdir), ("HOME", "home", env_spec.home),
                           ("XDG_CACHE_HOME", "cache", env_spec.xdg_cache),
                           ("XDG_CONFIG_HOME", "config", env_spec.xdg_config)):
        value = _broken(work, name, how)
        if value is not None:
            env[var] = value
    if env_spec.locale is not None:
        env["LANG"] = env["LC_ALL"] = env_spec.locale
    if env_spec.columns is not None:
        env["COLUMNS"] = env_spec.columns

    course = EMBEDDED_COURSE
    if env_spec.non_ascii_course:
        course = work / "cours-é" / "course"
        shutil.copytree(EMBEDDED_COURSE, course, ignore=shutil.ignore_patterns("tinytorch", "__pycache__"))
    command: List[str] = [*TITO, "package", env_spec.command]
    prefix: List[str] = []
    if env_spec.tmpdir == "unwritable":
        override = without_permission_override()
        if currently_in_test_context():
            event("unwritable TMPDIR: " + ("binding" if override is not None else "root overrides it (no setpriv)"))
        prefix = override or []
    if env_spec.cwd == "course":
        cwd = course
    else:
        cwd = work / "elsewhere"
        cwd.mkdir()
        if env_spec.cwd != "deleted-no-course":
            command += ["--course", str(course)]
    if env_spec.cwd.startswith("deleted"):
        # the shell enters the folder, removes it, then becomes tinytorch-verifier: its working directory is gone
        command = ["sh", "-c", 'cd "$1" && rmdir "$1" && shift && exec "$@"', "sh", str(cwd), *prefix, *command]
        cwd = work
    else:
        command = [*prefix, *command]
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, timeout=HANG_GUARD_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{env_spec}: no end within {HANG_GUARD_SECONDS} s")
    return Outcome(done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


def check(env_spec: Environment) -> None:
    with tempfile.TemporaryDirectory(prefix="tito-env-fuzz-") as name:
        work = Path(name)
        try:
            outcome = run_in(env_spec, work)
        finally:
            for folder in work.iterdir():  # let the temporary folder go even if a test made one read-only
                if folder.is_dir():
                    folder.chmod(0o700)
    if currently_in_test_context():  # also called from plain parametrized tests
        event(f"{env_spec.command}: exit {outcome.code}")
    shown = f"{env_spec}\nexit {outcome.code}\nstderr:\n{outcome.stderr[-2000:]}"
    assert outcome.code in (0, 1, 2), shown
    assert "Traceback" not in outcome.stdout + outcome.stderr, shown
    if outcome.code == 2:
        assert len([line for line in outcome.stderr.splitlines() if line.strip()]) <= 1, shown
    else:  # the embedded course is clean: a run that did not refuse passed
        assert outcome.code == 0, shown


@settings(max_examples=16, deadline=None, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(env_spec=environments)
@example(Environment("validate", cwd="deleted"))
@example(Environment("deps", xdg_cache="file", home="file"))
@example(Environment("deps", locale="C", non_ascii_course=True))
@example(Environment("validate", tmpdir="unwritable", home="missing", columns="0"))
def test_a_broken_environment_never_crashes_validate_or_deps(env_spec):
    check(env_spec)


# Once a crash: from a deleted working directory without --course, the course lookup raised
# FileNotFoundError (exit 3); now one line, exit 2.
@pytest.mark.parametrize("command", COMMANDS)
def test_deleted_working_directory_without_course_is_one_line(command):
    check(Environment(command, cwd="deleted-no-course"))
