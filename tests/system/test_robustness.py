"""Robustness of a run against its environment (issue 13 items 5-7): a failing export leaves the
previous package untouched; a run killed with SIGKILL is swept by the next one; SIGINT during the
build or a scenario ends every child before tinytorch-verifier exits (checked at the exit instant) and writes a
partial report where no interrupted stage is "failed"; a full disk is one line with exit 2."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Set

import pytest
from helpers import REPO

pytestmark = pytest.mark.system
TMP = Path(tempfile.gettempdir())
HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"
ENV = dict(os.environ, CI="true", PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
TITO = [sys.executable, "-m", "verifier.cli"]


# -- helpers: the run's marker, its children, the exit instant -----------------------------------------

def _marker_of_new_run(before: Set[Path], timeout: float = 120) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder in set(TMP.glob("tito-verify-*")) - before:
            if (folder / ".tito-owner").is_file():
                return folder / ".tito-owner"
        time.sleep(0.05)
    raise AssertionError("the run made no marked work directory")


def _read_marker(marker: Path):
    lines = marker.read_text().splitlines()
    token = next(line.split()[1] for line in lines if line.startswith("token "))
    groups = {int(line.split()[1]) for line in lines if line.startswith("group ")}
    return token, groups


def _living(token: str, groups: Set[int]) -> List[str]:
    """Processes (not zombies) of the run: carrying its token or in one of its recorded groups."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rfind(")") + 2:].split()
            if fields[0] in ("Z", "X"):
                continue
            carries = f"TITO_RUN_OWNER={token}".encode() in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        if carries or int(fields[2]) in groups:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            try:  # a scenario forked from the run's scenario server has the server's command line: its
                cwd = os.readlink(f"/proc/{entry}/cwd")  # folder (scenario-<name>) says what it runs
            except OSError:
                cwd = "?"
            found.append(f"{entry} {cmd[:120]} (in {os.path.basename(cwd)})")
    return found


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _start_verify(course: Path, reports: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([*TITO, "verify", "--course", str(course), "--python", HERE, "--scenario", "imports",
                             "--no-tests", "--reports", str(reports)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=ENV, cwd=str(course.parent))


def _exit_instant(proc: subprocess.Popen, token: str, marker: Path, timeout: float = 60) -> List[str]:
    """Block until tinytorch-verifier has exited but is not yet reaped, then list the run's living processes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        if info is not None:
            groups = _read_marker(marker)[1] if marker.exists() else set()
            return _living(token, groups | _GROUPS_SEEN)
        time.sleep(0.001)
    raise AssertionError("tinytorch-verifier did not exit")


_GROUPS_SEEN: Set[int] = set()
# a module that imports at once everywhere but in a scenario's folder, where it hangs
HANGS_IN_SCENARIO = "import os, time\nif os.path.basename(os.getcwd()).startswith('scenario-'):\n    time.sleep(600)"


def _interrupt_at(course: Path, tmp_path: Path, ready, what: str):
    """Start verify, wait until `ready(token, groups)` says the moment has come, SIGINT tinytorch-verifier; returns
    (seconds from SIGINT to exit, living processes at the exit instant, exit code, report, log)."""
    before = set(TMP.glob("tito-verify-*"))
    log = tmp_path / "out.log"
    proc = _start_verify(course, tmp_path / "reports", log)
    try:
        marker = _marker_of_new_run(before)
        token, _ = _read_marker(marker)

        def moment():
            _, groups = _read_marker(marker)
            _GROUPS_SEEN.update(groups)
            return ready(token, groups, log.read_text())
        _wait_for(moment, 300, what)
        _GROUPS_SEEN.update(_read_marker(marker)[1])
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        alive = _exit_instant(proc, token, marker)
        seconds = time.monotonic() - sent
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    report = tmp_path / "reports" / "verify.json"
    data = json.loads(report.read_text()) if report.exists() else None
    return seconds, alive, code, data, log.read_text()


# -- 1. atomic export -----------------------------------------------------------------------------------

def test_a_failing_export_leaves_the_previous_package_untouched(mini_course, monkeypatch):
    from verifier.course.discovery import load_course
    from verifier.package import export

    course_root = mini_course("def triple(x):\n    return 3 * x")
    done = subprocess.run([*TITO, "export", "--no-check", "--course", str(course_root)], capture_output=True,
                          text=True, env=ENV, timeout=120)
    assert done.returncode == 0, done.stderr
    package = course_root / "tinytorch"
    before = {p.relative_to(package): p.read_bytes() for p in package.rglob("*") if p.is_file()}
    assert before
    source = course_root / "modules/01_alpha/alpha.py"
    source.write_text(source.read_text().replace("3 * x", "4 * x"))
    course = load_course(course_root)
    plan = export.plan_export(course)
    written = []
    real = export.render_target

    def fail_after_first(plan_, target):
        if written:
            raise export.ExportError("simulated failure half-way through the export", course_root)
        written.append(target)
        return real(plan_, target)
    monkeypatch.setattr(export, "render_target", fail_after_first)
    monkeypatch.setattr(export, "_write_subpackage_inits",
                        lambda *a: (_ for _ in ()).throw(export.ExportError("simulated", course_root)))
    with pytest.raises(export.ExportError):
        export.write_package(plan, course_root)
    after = {p.relative_to(package): p.read_bytes() for p in package.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in course_root.iterdir() if p.name.startswith(".tinytorch.")], "a temporary export was left"


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MB tmpfs (root only); skipped where it cannot be mounted."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a tiny tmpfs")
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(disk: Path) -> None:
    try:
        with (disk / "filler").open("wb") as out:
            while True:
                out.write(b"\0" * 4096)
                out.flush()
    except OSError as error:
        assert error.errno == errno.ENOSPC


def test_export_onto_a_full_disk_is_one_line_and_keeps_the_old_package(tiny_disk):
    from helpers import MINI_MODULE, MINI_PYPROJECT, write_course

    root = write_course(tiny_disk / "course", {"01_alpha/alpha.py": MINI_MODULE}, pyproject=MINI_PYPROJECT,
                        yamls={"01_alpha": "name: alpha\nexports_to: tinytorch.core.alpha\n"})
    first = subprocess.run([*TITO, "export", "--no-check", "--course", str(root)], capture_output=True, text=True,
                           env=ENV, timeout=120)
    assert first.returncode == 0, first.stderr
    package = root / "tinytorch"
    before = {p.relative_to(package): p.read_bytes() for p in package.rglob("*") if p.is_file()}
    source = root / "modules/01_alpha/alpha.py"
    source.write_text(source.read_text() + "\n# %%\n#| export\nBIG = '" + "x" * 20000 + "'\n")
    _fill(tiny_disk)
    done = subprocess.run([*TITO, "export", "--no-check", "--course", str(root)], capture_output=True, text=True,
                          env=ENV, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("tinytorch-verifier: error: no space left on device in "), done.stderr
    assert ": free 0 MB" in errors[0]
    after = {p.relative_to(package): p.read_bytes() for p in package.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in root.iterdir() if p.name.startswith(".tinytorch.")]


# -- 2. ENOSPC and the free-space check -----------------------------------------------------------------

def test_verify_on_a_too_small_temporary_folder_fails_at_once(tiny_disk, mini_course, tmp_path):
    course = mini_course()
    started = time.monotonic()
    done = subprocess.run([*TITO, "verify", "--course", str(course), "--python", HERE, "--reports",
                           str(tmp_path / "reports")], capture_output=True, text=True, timeout=120,
                          env=dict(ENV, TMPDIR=str(tiny_disk)))
    assert time.monotonic() - started < 30
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"tinytorch-verifier: error: not enough free disk space in {tiny_disk}: free ")
    assert "MB" in line


def test_pip_saying_no_space_left_is_the_one_line_error(tmp_path):
    from verifier.runner.guard import run_guarded
    from verifier.runner.processes import run

    target = tmp_path / "site-packages" / "numpy" / "core.py"
    script = ("import sys; print(\"ERROR: Could not install packages due to an OSError: [Errno 28] "
              f"No space left on device: '{target}'\", file=sys.stderr); sys.exit(1)")
    with pytest.raises(OSError) as raised:
        run([sys.executable, "-c", script], timeout=30)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)

    import io
    err = io.StringIO()
    code = run_guarded(lambda: run([sys.executable, "-c", script], timeout=30).returncode or 0, ["verify"], err)
    assert code == 2
    (line,) = err.getvalue().strip().splitlines()
    assert line.startswith(f"tinytorch-verifier: error: no space left on device in {target}: free ") and " MB" in line


# -- 3. SIGKILL: the next run sweeps -----------------------------------------------------------------------

def test_a_run_killed_with_sigkill_is_swept_by_the_next_run(mini_course, tmp_path):
    course = mini_course(HANGS_IN_SCENARIO)
    before = set(TMP.glob("tito-verify-*"))
    proc = _start_verify(course, tmp_path / "reports", tmp_path / "out.log")
    try:
        marker = _marker_of_new_run(before)
        token, _ = _read_marker(marker)
        _wait_for(lambda: "install" in (tmp_path / "out.log").read_text(), 300, "the install stage")
        orphans = _wait_for(lambda: [p for p in _living(token, _read_marker(marker)[1])
                                     if "(in scenario-imports)" in p], 120,
                            "a scenario process")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    work = marker.parent
    assert work.is_dir(), "SIGKILL cannot clean up: the work directory must still be there"
    assert _living(token, _read_marker(marker)[1]), f"the scenario should be orphaned: {orphans}"
    done = subprocess.run([*TITO, "export", "--no-check", "--course", str(course)], capture_output=True, text=True,
                          env=ENV, timeout=120)
    assert done.returncode == 0, done.stderr
    swept = [line for line in done.stderr.splitlines() if "left by tinytorch-verifier run" in line]
    assert len(swept) == 1 and "removed 1 work directory" in swept[0] and "orphaned process" in swept[0], done.stderr
    assert str(proc.pid) in swept[0]
    assert not work.exists()
    assert _living(token, set()) == []


# -- 4. SIGINT at the build and in a scenario: nothing outlives tinytorch-verifier -------------------------------------

def _building(token: str, groups: Set[int], log: str) -> bool:
    return any(" -m build" in p for p in _living(token, groups))


def test_sigint_during_the_build_ends_every_child_before_tito_exits(mini_course, tmp_path):
    seconds, alive, code, data, log = _interrupt_at(mini_course(), tmp_path, _building, "the build")
    print(f"SIGINT during build: exit after {seconds:.2f} s, {len(alive)} children alive at exit")
    assert alive == [], alive
    assert seconds < 15
    assert code == 1, log
    assert "Traceback" not in log
    assert data is not None and data["interrupted"] is True and data["ready"] is False
    assert all(s["status"] != "failed" for s in data["stages"]), data["stages"]


def _in_scenario(token: str, groups: Set[int], log: str) -> bool:
    return "install" in log and any("(in scenario-imports)" in p for p in _living(token, groups))


def test_sigint_during_a_scenario_marks_it_interrupted_not_failed(mini_course, tmp_path):
    course = mini_course(HANGS_IN_SCENARIO)
    seconds, alive, code, data, log = _interrupt_at(course, tmp_path, _in_scenario, "the imports scenario")
    print(f"SIGINT during scenario: exit after {seconds:.2f} s, {len(alive)} children alive at exit")
    assert alive == [], alive
    assert seconds < 15
    assert code == 1, log
    assert "Traceback" not in log
    assert data["interrupted"] is True and data["ready"] is False
    stages = {s["name"]: s for s in data["pythons"][0]["stages"]}
    assert stages["install"]["status"] == "passed"
    assert stages["imports"]["status"] == "not run", stages["imports"]
    assert all(s["status"] != "failed" for s in stages.values()), stages


# -- 5. a course test's server that ignores SIGTERM and leaves the group: gone when tinytorch-verifier exits -----------

ESCAPING_SERVER_TEST = '''
import os, subprocess, sys, time

SERVER = (
    "import os, signal, sys, time\\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
    "os.setsid()\\n"                                     # leaves the test's process group
    "open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid()))\\n"
    "os.rename(sys.argv[1] + '.tmp', sys.argv[1])\\n"
    "time.sleep(600)\\n")


def test_starts_a_server_and_leaves_it_running():
    subprocess.Popen([sys.executable, "-c", SERVER, PIDFILE], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not os.path.exists(PIDFILE) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(PIDFILE)
'''


def _carrier_alive(pid: int) -> bool:
    """Whether `pid` is a living (not zombie) process that carries some tinytorch-verifier run's token."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] not in ("Z", "X") and b"TITO_RUN_OWNER=" in environ


@pytest.mark.parametrize("how", ["normal exit", "SIGTERM"])
def test_a_sigterm_proof_server_a_course_test_started_is_gone_when_tito_exits(mini_course, tmp_path, how):
    course = mini_course(name=f"mini-{how.split()[0].lower()}")
    pidfile = tmp_path / f"server-{how.split()[0]}.pid"
    (course / "tests").mkdir()
    (course / "tests" / "test_server.py").write_text(f"PIDFILE = {str(pidfile)!r}\n" + ESCAPING_SERVER_TEST)
    log = tmp_path / "out.log"
    proc = subprocess.Popen([*TITO, "verify", "--course", str(course), "--python", HERE, "--scenario", "imports",
                             "--reports", str(tmp_path / "reports")],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=ENV, cwd=str(tmp_path))
    try:
        _wait_for(pidfile.exists, 600, "the course test's server")
        server = int(pidfile.read_text())
        assert _carrier_alive(server), "the server should be running, carrying the run's token"
        if how == "SIGTERM":
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in log.read_text()
    assert code in ((0, 1) if how == "normal exit" else (1, 130)), log.read_text()
    alive = _carrier_alive(server)
    if alive:
        os.kill(server, signal.SIGKILL)  # do not leave it to the next test
    assert not alive, f"the course test's server {server} outlived tinytorch-verifier ({how})"


# -- 6. the build's and pip's temporary folders live in the run's work directory ---------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_build_leaves_nothing_in_the_temporary_folder(mini_course, tmp_path, signum):
    course = mini_course(name=f"mini-{signum.name}")
    temp = tmp_path / "TMPDIR"
    temp.mkdir()
    log = tmp_path / "out.log"
    proc = subprocess.Popen([*TITO, "package", "build", "--course", str(course), "--out", str(tmp_path / "dist")],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=dict(ENV, TMPDIR=str(temp)),
                            cwd=str(tmp_path))
    try:
        # the isolated build environment exists: the moment the build's temporary folders are there
        _wait_for(lambda: any(temp.rglob("build-env-*")), 300, "the build environment")
        proc.send_signal(signum)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, log.read_text()
    assert "Traceback" not in log.read_text()
    left = sorted(str(p.relative_to(temp)) for p in temp.rglob("*"))
    assert left == [], f"left in TMPDIR after {signum.name}: {left[:10]}"
