"""The sweep of dead runs (runner/workdirs.py) and the exit sweep (runner/processes.py) end only
processes that carry the run's token in their environment: a process that merely has a process
group id recorded in a dead run's marker (group ids are reused by the kernel) survives."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from verifier.runner import processes
from verifier.runner.workdirs import MARKER, sweep_orphans

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (Linux)")
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def _alive(pid: int) -> bool:
    state = processes.process_table().get(pid)
    return state is not None and state[1] not in ("Z", "X")


def _reap_soon(proc: subprocess.Popen, timeout: float = 5.0) -> bool:
    """Whether `proc` ended within `timeout` seconds (it is our child: reaping it is our job)."""
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        return False


@pytest.fixture
def dead_owner():
    """(pid, start time) of a process that ran and is gone: the owner of a stale marker."""
    owner = subprocess.Popen(SLEEPER)
    time.sleep(0.05)
    started = processes.start_time(owner.pid)
    owner.kill()
    owner.wait()
    return owner.pid, started


def test_a_stranger_in_a_recorded_group_survives_a_carrier_of_the_dead_token_does_not(tmp_path, dead_owner):
    owner, started = dead_owner
    token = f"{owner}-deadbeef"
    stranger = subprocess.Popen(SLEEPER, start_new_session=True,  # its pgid is its pid: "reused" below
                                env={k: v for k, v in os.environ.items() if k != processes.OWNER_VARIABLE})
    carrier = subprocess.Popen(SLEEPER, start_new_session=True,
                               env=dict(os.environ, **{processes.OWNER_VARIABLE: token}))
    try:
        assert os.getpgid(stranger.pid) == stranger.pid
        work = tmp_path / "tito-verify-stale"
        work.mkdir()
        (work / MARKER).write_text(f"owner {owner} {started}\ntoken {token}\n"
                                   f"group {stranger.pid}\ngroup {carrier.pid}\n")
        line = sweep_orphans(tmp_path)
        assert _reap_soon(carrier), "the process carrying the dead run's token must be killed"
        assert not _reap_soon(stranger, 0.5) and _alive(stranger.pid), \
            "a process whose group id was merely recorded must survive"
        assert f"pid {carrier.pid}" in line and str(stranger.pid) not in line.split("(pid ")[1]
        assert not work.exists()
    finally:
        for proc in (stranger, carrier):
            proc.kill()
            proc.wait()


def test_the_exit_sweep_ends_only_this_runs_token(monkeypatch):
    other = subprocess.Popen(SLEEPER, start_new_session=True,
                             env=dict(os.environ, **{processes.OWNER_VARIABLE: "someone-else"}))
    ours = subprocess.Popen(SLEEPER, start_new_session=True,
                            env=dict(os.environ, **{processes.OWNER_VARIABLE: processes.OWNER_TOKEN}))
    try:
        time.sleep(0.1)
        killed = processes.end_own_processes()
        assert ours.pid in killed and _reap_soon(ours)
        assert other.pid not in killed and _alive(other.pid)
    finally:
        for proc in (other, ours):
            proc.kill()
            proc.wait()


def test_a_reused_pid_is_not_signalled(monkeypatch):
    """Between the listing and the kill the pid is checked again through a pidfd: a process that no
    longer carries the token (the pid now names another process) is left alone."""
    bystander = subprocess.Popen(SLEEPER)
    try:
        monkeypatch.setattr(processes, "token_carriers", lambda token, not_before="": [bystander.pid])
        assert processes.kill_carriers("a-token-nobody-carries") == []
        assert _alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()


def test_nothing_is_killed_for_a_marker_whose_owner_lives(tmp_path):
    carrier = subprocess.Popen(SLEEPER, env=dict(os.environ, **{processes.OWNER_VARIABLE: "live-token"}))
    try:
        work = tmp_path / "tito-verify-live"
        work.mkdir()
        (work / MARKER).write_text(f"owner {os.getpid()} {processes.start_time(os.getpid())}\ntoken live-token\n")
        assert sweep_orphans(tmp_path) == ""
        assert _alive(carrier.pid) and work.is_dir()
    finally:
        carrier.kill()
        carrier.wait()
