"""`tinytorch-verifier cohort verify` without building anything: finding students (Classroom, nbgrader, roster with a
git URL), the tree hash behind verdict reuse, the gradebook rows, and the bubblewrap sandbox around
processes.run (a probe that reads a sibling's file, a file in HOME and connects to 127.0.0.1)."""
from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import MINI_MODULE, MINI_PYPROJECT, write_course

from verifier.errors import VerifierError
from verifier.pipeline import cohort
from verifier.render import cohort as gradebook
from verifier.runner import processes, sandbox


def _course(root: Path) -> Path:
    return write_course(root, {"01_alpha/alpha.py": MINI_MODULE}, pyproject=MINI_PYPROJECT)


def test_classroom_logins_and_nbgrader_students(tmp_path):
    classroom = tmp_path / "classroom"
    for login in ("alice", "bob-smith"):
        _course(classroom / f"tinytorch-hw1-{login}")
    assert [s.student for s in cohort.discover(classroom)] == ["alice", "bob-smith"]

    submitted = tmp_path / "submitted"
    _course(submitted / "carol" / "hw1")
    _course(submitted / "dan" / "hw1")
    (submitted / "erin").mkdir()   # a student who handed in nothing: a row, not a crash
    found = cohort.discover(submitted)
    assert [(s.student, Path(s.source).name) for s in found] == [("carol", "hw1"), ("dan", "hw1"), ("erin", "erin")]


def test_one_course_or_bad_roster_is_one_line(tmp_path):
    with pytest.raises(VerifierError, match="one course, not a folder of student trees"):
        cohort.discover(_course(tmp_path / "course"))
    roster = tmp_path / "roster.csv"
    roster.write_text("student,path_or_git_url,ref\nalice,course\nbob\n")
    with pytest.raises(VerifierError) as error:
        cohort.discover(roster)
    assert f"{roster}:3" in str(error.value)
    roster.write_text("student,path_or_git_url,ref\n../evil,course\n")
    with pytest.raises(VerifierError, match="not usable"):
        cohort.discover(roster)


def test_roster_clones_a_git_url_and_reports_a_failed_clone(tmp_path):
    repo = _course(tmp_path / "repo")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "hw"], check=True)
    roster = tmp_path / "roster.csv"
    roster.write_text(f"alice,file://{repo},main\nbob,file://{tmp_path}/missing.git,\ncarol,repo,\n")
    subs = cohort.discover(roster)
    assert [s.is_git for s in subs] == [True, True, False] and subs[2].source == str(repo)
    plan = cohort._Plan(cohort.CohortOptions(roster, tmp_path / "reports"), tmp_path / "work", {}, False, 1,
                        threading.Event())
    (tmp_path / "work" / "alice").mkdir(parents=True)
    tree, why = cohort._fetch(subs[0], plan, tmp_path / "work" / "alice")
    assert why == "" and (tree / "modules" / "01_alpha" / "alpha.py").is_file()
    row = cohort.verify_student(subs[1], plan)
    assert row.verdict == cohort.CLONE_FAILED and "git clone" in row.note and "\n" not in row.note


def test_tree_hash_sees_content_options_and_skips_caches(tmp_path):
    root = _course(tmp_path / "alice")
    first = cohort.tree_hash(root, "3.12")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "x.pyc").write_bytes(b"junk")
    os.mkfifo(root / "pipe")   # never opened (a FIFO would hang a reader)
    assert cohort.tree_hash(root, "3.12") == first
    assert cohort.tree_hash(root, "3.13") != first
    source = root / "modules" / "01_alpha" / "alpha.py"
    source.write_text(source.read_text() + "# changed\n")
    assert cohort.tree_hash(root, "3.12") != first
    cohort.copy_tree(root, tmp_path / "copy")
    assert (tmp_path / "copy" / "modules" / "01_alpha" / "alpha.py").read_text() == source.read_text()
    assert not (tmp_path / "copy" / "pipe").exists()


def test_gradebook_rows_histogram_and_clusters():
    same = cohort.Failure("package cannot be imported: 04_layers: NameError", "04_layers", "NameError: x")
    rows = [cohort.StudentRow("alice", cohort.VERIFIED, seconds=10.04),
            cohort.StudentRow("bob", cohort.NOT_VERIFIED, ["04_layers"], ["3.12:module-imports"], 12, failures=[same]),
            cohort.StudentRow("carl", cohort.NOT_VERIFIED, ["04_layers", "10_spatial"],
                              ["3.11:cnn", "3.12:module-imports"], 13, failures=[same]),
            cohort.StudentRow("dora", cohort.NOT_A_COURSE, note="no course here")]
    result = cohort.CohortResult(rows, sandbox_warning="student code was not sandboxed: no bwrap")
    text = gradebook.gradebook_csv(result)
    assert text.splitlines()[0] == "# WARNING: student code was not sandboxed: no bwrap"
    table = list(csv.reader(io.StringIO("\n".join(text.splitlines()[1:]))))
    assert table == [list(cohort.GRADEBOOK_COLUMNS), ["alice", "VERIFIED", "", "", "10.0", ""],
                     ["bob", "NOT VERIFIED", "04_layers", "3.12:module-imports", "12.0", ""],
                     ["carl", "NOT VERIFIED", "04_layers;10_spatial", "3.11:cnn;3.12:module-imports", "13.0", ""],
                     ["dora", "NOT A COURSE", "", "", "0.0", "no course here"]]
    assert gradebook.module_histogram(result) == [("04_layers", 2), ("10_spatial", 1)]
    assert [(c.module, c.students) for c in gradebook.clusters(result)] == [("04_layers", ["bob", "carl"])]
    from verifier.render.cohort import cohort_html
    page = cohort_html(cohort.CohortResult([cohort.StudentRow("<script>", cohort.ERROR, note="<b>")]))
    assert "<script>" not in page and "&lt;script&gt;" in page


PROBE = """
import socket, sys
outcomes = []
for name, path in (("sibling", sys.argv[1]), ("home", sys.argv[2])):
    try:
        open(path).read()
        outcomes.append(name + ": read")
    except OSError as exc:
        outcomes.append(name + ": blocked " + type(exc).__name__)
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=5).close()
    outcomes.append("socket: connected")
except OSError as exc:
    outcomes.append("socket: blocked " + type(exc).__name__)
open("outcomes.txt", "w").write("; ".join(outcomes))
"""


@pytest.fixture
def secrets(tmp_path):
    """A sibling student's file, a file in the instructor's HOME and a listening socket on 127.0.0.1."""
    sibling = tmp_path / "submissions" / "alice" / "answer.py"
    sibling.parent.mkdir(parents=True)
    sibling.write_text("secret = 42\n")
    home_file = Path.home() / f".tito-sandbox-probe-{os.getpid()}"
    home_file.write_text("token\n")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    try:
        yield sibling, home_file, server.getsockname()[1]
    finally:
        server.close()
        home_file.unlink()


def _probe(tmp_path, secrets) -> str:
    own = tmp_path / "work" / "bob"
    own.mkdir(parents=True, exist_ok=True)
    (own / "probe.py").write_text(PROBE)
    sibling, home_file, port = secrets
    done = processes.run([sys.executable, "probe.py", str(sibling), str(home_file), str(port)], cwd=own, timeout=60)
    assert done.ok, done.tail()
    return (own / "outcomes.txt").read_text()


def test_the_probe_escapes_without_the_sandbox(tmp_path, secrets):
    assert _probe(tmp_path, secrets) == "sibling: read; home: read; socket: connected"


@pytest.mark.skipif(sandbox.probe()[0] is None, reason=f"bubblewrap unusable here: {sandbox.probe()[1]}")
def test_inside_the_sandbox_every_attempt_fails(tmp_path, secrets):
    assert sandbox.enable([tmp_path / "work" / "bob"]) == ""
    try:
        outcomes = _probe(tmp_path, secrets)
    finally:
        processes.set_sandbox(None)
    assert outcomes == ("sibling: blocked FileNotFoundError; home: blocked FileNotFoundError; "
                        "socket: blocked ConnectionRefusedError")


def test_without_bwrap_one_warning_and_no_sandbox(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    warning = sandbox.enable([Path("/tmp")])
    assert warning == "student code was not sandboxed: bubblewrap (bwrap) is not installed (apt-get install bubblewrap)"
    assert not processes.sandboxed()


def test_a_child_that_failed_with_one_line_error_gives_that_line_without_the_command_prefix(tmp_path):
    """The note of a student whose verification stopped before a report is the child's one-line error,
    read from a real child's stderr: the prefix it strips is the one the command line prints."""
    missing = tmp_path / "no-such-course"
    done = processes.run([sys.executable, "-m", "verifier.cli", "package", "validate", "--course", str(missing)],
                         timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("tinytorch-verifier: error: "), done.stderr
    row = cohort.StudentRow("erin", cohort.VERIFIED)
    cohort._verdict_of_child(row, done, has_report=False, timeout=60, strip="")
    assert row.verdict == cohort.ERROR and row.note and not row.note.startswith("tinytorch-verifier")
    assert str(missing) in row.note, row.note
