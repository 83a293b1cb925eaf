"""The verify scheduler (verifier/pipeline/schedule.py) on fake tasks: dependencies respected,
heaviest chain first, no idle worker while a task is ready, cancellation, errors; and the installer
choice (verifier/runner/envs.py)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from verifier.pipeline.schedule import Cancelled, Task, critical_paths, run_tasks


def recorder():
    log = []
    lock = threading.Lock()

    def make(key, seconds=0.0):
        def body():
            with lock:
                log.append(("start", key))
            time.sleep(seconds)
            with lock:
                log.append(("end", key))
        return body
    return log, make


def test_dependencies_are_respected_and_every_task_runs():
    log, make = recorder()
    tasks = [Task("venv", make("venv", 0.01)), Task("install", make("install", 0.01), ("venv",)),
             Task("a", make("a", 0.01), ("install",)), Task("b", make("b", 0.01), ("install",)),
             Task("tests", make("tests"), ("a", "b"))]
    stats = run_tasks(tasks, workers=3)
    assert sorted(stats.order) == sorted(t.key for t in tasks)
    for task in tasks:
        for before in task.after:
            assert log.index(("end", before)) < log.index(("start", task.key))


def test_one_worker_runs_the_heaviest_chain_first_deterministically():
    _, make = recorder()
    tasks = [Task("light", make("light"), (), 1.0), Task("heavy", make("heavy"), (), 5.0),
             Task("head", make("head"), (), 1.0), Task("tail", make("tail"), ("head",), 10.0)]
    assert critical_paths(tasks) == {"light": 1.0, "heavy": 5.0, "head": 11.0, "tail": 10.0}
    assert run_tasks(tasks, workers=1).order == ["head", "tail", "heavy", "light"]
    assert run_tasks(tasks, workers=1).order == ["head", "tail", "heavy", "light"]


def test_no_worker_idles_while_a_task_is_ready():
    _, make = recorder()
    # two Pythons: venv -> install -> three scenarios each, uneven lengths
    tasks = []
    for py, scale in (("3.9", 1.0), ("3.13", 2.0)):
        tasks.append(Task(f"{py}/venv", make(py, 0.01 * scale), (), scale))
        tasks.append(Task(f"{py}/install", make(py, 0.02 * scale), (f"{py}/venv",), 2 * scale))
        for name in ("imports", "cnn", "transformer"):
            tasks.append(Task(f"{py}/{name}", make(py, 0.01 * scale), (f"{py}/install",), scale))
    stats = run_tasks(tasks, workers=2)
    for dispatch in stats.dispatches:
        # a task still waits in the ready queue only when every worker is busy
        assert dispatch.ready_left == 0 or dispatch.running == 2, dispatch
    assert stats.order[0] == "3.13/venv"  # the longer chain starts first
    assert 0 < stats.utilisation <= 1.0


def test_cancellation_stops_dispatch_and_raises():
    cancelled = threading.Event()
    started = []

    def first():
        started.append("first")
        cancelled.set()

    tasks = [Task("first", first, (), 10.0)] + [Task(f"later{i}", lambda i=i: started.append(i), ("first",))
                                                 for i in range(3)]
    with pytest.raises(Cancelled):
        run_tasks(tasks, workers=2, cancelled=cancelled)
    assert started == ["first"]


def test_a_task_error_is_reraised_after_running_tasks_return():
    def boom():
        raise RuntimeError("internal")

    ran = []
    tasks = [Task("boom", boom, (), 5.0), Task("slow", lambda: (time.sleep(0.05), ran.append("slow")), (), 1.0),
             Task("after", lambda: ran.append("after"), ("boom",))]
    with pytest.raises(RuntimeError, match="internal"):
        run_tasks(tasks, workers=2)
    assert ran == ["slow"]


def test_cycles_and_unknown_dependencies_are_refused():
    with pytest.raises(ValueError, match="cycle through tasks a -> c -> b -> a"):  # deps/digraph.py finds it
        critical_paths([Task("a", lambda: None, ("b",)), Task("b", lambda: None, ("c",)),
                        Task("c", lambda: None, ("a",)), Task("d", lambda: None, ("a",))])
    with pytest.raises(ValueError, match="a comes after itself"):
        critical_paths([Task("a", lambda: None, ("a",))])
    with pytest.raises(ValueError, match="unknown"):
        critical_paths([Task("a", lambda: None, ("nope",))])


def test_installer_choice_prefers_uv_and_falls_back_to_pip(monkeypatch):
    from verifier.runner import envs

    monkeypatch.setattr(envs, "find_uv", lambda: None)
    assert envs.choose_installer("uv") == ("pip", "uv not found: pip used")
    assert envs.choose_installer("pip") == ("pip", "")
    monkeypatch.setattr(envs, "find_uv", lambda: envs.Path("/usr/bin/uv"))
    assert envs.choose_installer("uv") == ("uv", "")
    assert envs.choose_installer("pip") == ("pip", "")
    with pytest.raises(envs.EnvironmentSetupError):
        envs.choose_installer("conda")


def test_uv_install_command_keeps_wheels_only_and_constraints(monkeypatch, tmp_path):
    from verifier.runner import envs

    seen = {}
    monkeypatch.setattr(envs, "find_uv", lambda: envs.Path("/x/uv"))
    monkeypatch.setattr(envs, "run", lambda cmd, **kw: seen.setdefault("cmd", [str(c) for c in cmd]))
    from verifier.course.lockfile import parse_lock

    lock = parse_lock("numpy==2.0.2\n", tmp_path / "lock.txt")
    envs.Venv(tmp_path).install(["t.whl"], constraints=lock, installer="uv", no_deps=True, reinstall=True)
    cmd = seen["cmd"]
    assert cmd[:3] == ["/x/uv", "pip", "install"]
    assert cmd[cmd.index("--only-binary") + 1] == ":all:"
    written = Path(cmd[cmd.index("--constraint") + 1])  # the verifier's own file of the lock's pins
    assert written.parent == tmp_path and written.read_text().splitlines()[1:] == ["numpy==2.0.2"]
    assert "--no-deps" in cmd and "--reinstall" in cmd and cmd[-1] == "t.whl"


def test_previous_durations_weigh_the_schedule(tmp_path):
    import json

    from verifier.pipeline.pytasks import ESTIMATES, estimate, previous_durations

    report = tmp_path / "verify.json"
    report.write_text(json.dumps({"stages": [{"name": "editable", "seconds": 9.5}], "pythons": [
        {"version": "3.12", "stages": [{"name": "cnn", "seconds": 21.0, "status": "passed"},
                                       {"name": "transformer", "seconds": 0.0, "status": "not run"}]}]}))
    history = previous_durations(report)
    assert estimate(history, "3.12", "cnn") == 21.0
    assert estimate(history, "course", "editable") == 9.5
    assert estimate(history, "3.12", "transformer") == ESTIMATES["transformer"]  # not run: no evidence
    assert previous_durations(tmp_path / "missing.json") == {}


def test_an_interrupt_waits_for_running_tasks_before_propagating():
    import _thread

    finished = []
    interrupted = []

    def slow():
        time.sleep(0.3)
        finished.append("slow")

    def interrupt():
        time.sleep(0.05)
        _thread.interrupt_main()

    tasks = [Task("slow", slow, (), 5.0), Task("interrupt", interrupt, (), 1.0),
             Task("later", lambda: finished.append("later"), ("slow",))]
    with pytest.raises(KeyboardInterrupt):
        run_tasks(tasks, workers=2, poll=0.01, on_interrupt=lambda: interrupted.append(True))
    assert finished == ["slow"] and interrupted == [True]
