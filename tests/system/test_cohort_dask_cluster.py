"""`tinytorch-verifier cohort verify --scheduler`: a small class verified on a real Dask cluster — a scheduler and two
workers started here as separate processes on 127.0.0.1 — gives the same gradebook rows as the local
run (a clean student, one whose 02_layers fails at import, a folder that is not a course); the
students' reports come back to the instructor's reports folder. And a scheduler nobody listens on is
one line, exit 2, within the connect timeout."""
from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from test_cohort_system import FAULT, LAYERS, PYTHON, _student

pytestmark = pytest.mark.system
TITO = [sys.executable, "-m", "verifier.cli"]
try:
    import distributed  # noqa: F401
    HAVE_DISTRIBUTED = True
except ImportError:
    HAVE_DISTRIBUTED = False
needs_distributed = pytest.mark.skipif(not HAVE_DISTRIBUTED, reason="Dask distributed is not installed "
                                       "(pip install 'tinytorch-verifier[cluster]')")


def _stop(proc: subprocess.Popen) -> None:
    """The process group this test started (a worker's nanny and its worker process)."""
    for signum, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _work_folders_of(pids) -> list:
    """The cohort work folders the workers' tasks still hold (their marker names the owner pid)."""
    found = []
    for marker in Path(tempfile.gettempdir()).glob("tito-cohort-*/.tito-owner"):
        try:
            owner = marker.read_text().split()[1]
        except (OSError, IndexError):
            continue
        if owner in pids:
            found.append(marker.parent)
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """tcp://127.0.0.1:PORT of a scheduler with two single-thread workers, stopped afterwards (once no task
    runs: a worker killed mid-task would leave its student's verify child and work folder behind)."""
    tmp_path = tmp_path_factory.mktemp("cluster")
    scheduler_file = tmp_path / "scheduler.json"
    logs = tmp_path / "cluster-logs"
    logs.mkdir()
    started = []

    def start(name, argv):
        log = open(logs / f"{name}.log", "wb")
        started.append(subprocess.Popen([sys.executable, "-m", *argv], stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True))
        log.close()

    try:
        start("scheduler", ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                            "--no-dashboard", "--scheduler-file", str(scheduler_file)])
        deadline = time.monotonic() + 60
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert scheduler_file.is_file(), (logs / "scheduler.log").read_text()
        time.sleep(0.5)  # the file is written in one go, but let the writer finish
        address = json.loads(scheduler_file.read_text())["address"]
        for number in (1, 2):
            local = tmp_path / f"worker{number}"
            local.mkdir()
            start(f"worker{number}", ["distributed.cli.dask_worker", "--scheduler-file", str(scheduler_file),
                                      "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1",
                                      "--no-dashboard", "--local-directory", str(local)])
        client = distributed.Client(address, timeout=30)
        try:
            client.wait_for_workers(2, timeout=60)
            yield address
            # a task whose client left (Ctrl-C) still runs in its worker's thread until its verify ends
            worker_pids = {str(pid) for pid in client.run(os.getpid).values()}
            deadline = time.monotonic() + 300
            while _work_folders_of(worker_pids) and time.monotonic() < deadline:
                time.sleep(1)
        finally:
            client.close()
    finally:
        for proc in reversed(started):
            _stop(proc)


def _gradebook(submissions: Path, reports: Path, *extra: str):
    done = subprocess.run([*TITO, "cohort", "verify", str(submissions), "--reports", str(reports), "--python", PYTHON,
                           "--scenario", "imports", "--no-tests", "--jobs", "2", *extra],
                          capture_output=True, text=True, timeout=900)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr + done.stdout
    lines = (reports / "gradebook.csv").read_text().splitlines()
    rows = list(csv.reader([ln for ln in lines if not ln.startswith("#")]))
    return [r[:4] + r[5:] for r in rows]  # every column but seconds


@needs_distributed
def test_a_class_on_a_dask_cluster_gives_the_local_gradebook(tmp_path, cluster):
    submissions = tmp_path / "submissions"
    _student(submissions / "hw1-alice")
    _student(submissions / "hw1-bob", LAYERS + FAULT)
    (submissions / "hw1-carol").mkdir()
    (submissions / "hw1-carol" / "notes.txt").write_text("I did not start\n")
    local = _gradebook(submissions, tmp_path / "local")
    remote = _gradebook(submissions, tmp_path / "remote", "--scheduler", cluster)
    assert [r[:3] for r in local] == [["student", "verdict", "modules_to_fix"], ["alice", "VERIFIED", ""],
                                      ["bob", "NOT VERIFIED", "02_layers"], ["carol", "NOT A COURSE", ""]]
    assert remote == local
    def stages(reports):  # every stage's status per student, from the pipeline's own reports
        return {s["student"]: s["stages"] for s in json.loads((reports / "cohort.json").read_text())["students"]}
    assert stages(tmp_path / "remote") == stages(tmp_path / "local") and stages(tmp_path / "local")["bob"]
    for name in ("verify.json", "status.md", "report.html"):
        assert (tmp_path / "remote" / "students" / "alice" / name).is_file()
    data = json.loads((tmp_path / "remote" / "cohort.json").read_text())
    assert {s["student"]: s["report"] for s in data["students"]}["bob"] == \
        str(tmp_path / "remote" / "students" / "bob")


@needs_distributed
def test_ctrl_c_cancels_the_students_not_started_and_writes_a_partial_gradebook(tmp_path, cluster):
    submissions = tmp_path / "submissions"
    for name in ("erin", "frank", "grace"):   # three students, two single-thread workers: one waits
        _student(submissions / name)
    reports = tmp_path / "reports"
    tito = subprocess.Popen([*TITO, "cohort", "verify", str(submissions), "--reports", str(reports), "--python",
                             PYTHON, "--scenario", "imports", "--no-tests", "--scheduler", cluster],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)   # connected and submitted (a student's verify takes far longer than this)
    tito.send_signal(signal.SIGINT)
    out, err = tito.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert tito.returncode == 1, err + out
    lines = (reports / "gradebook.csv").read_text().splitlines()
    rows = list(csv.reader([ln for ln in lines if not ln.startswith("#")]))
    assert [r[0] for r in rows[1:]] == ["erin", "frank", "grace"]
    assert "NOT RUN" in {r[1] for r in rows[1:]}, rows
    assert json.loads((reports / "cohort.json").read_text())["interrupted"] is True


@needs_distributed
def test_an_unreachable_scheduler_is_one_line_exit_2(tmp_path):
    _student(tmp_path / "submissions" / "alice")
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    done = subprocess.run([*TITO, "cohort", "verify", str(tmp_path / "submissions"), "--reports",
                           str(tmp_path / "reports"), "--scheduler", f"tcp://127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"cannot reach the Dask scheduler tcp://127.0.0.1:{port} within 10 s" in lines[0], \
        done.stderr
    assert time.monotonic() - started < 30
    assert not (tmp_path / "reports" / "gradebook.csv").exists()
