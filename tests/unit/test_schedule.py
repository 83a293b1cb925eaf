"""The verify scheduler (verifier/pipeline/schedule.py) on fake tasks: dependencies respected,
heaviest chain first, no idle worker while a task is ready, cancellation, errors, the simulated
choice of priorities that removes the idle tail of alike chains; and the installer choice
(verifier/runner/envs.py)."""
from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from verifier.deps.digraph import connected_groups
from verifier.pipeline.schedule import Cancelled, Task, critical_paths, plan, run_tasks, simulate


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


# Seconds per stage of each of seven Pythons (3.9 ... 3.15) in a real `verify --jobs 2` trace: the
# chains are alike, and course-tests (the longest tasks) come after every check of their Python.
TRACE_PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")
TRACE_SECONDS = {
    "venv": (0, 0, 0, 0.81, 0.37, 0.24, 0.24),
    "install": (0.34, 0.32, 0.27, 0.31, 0.35, 0.36, 0.36),
    "module-imports": (1.15, 1.24, 1.29, 1.43, 1.56, 1.47, 1.27),
    "entry-points": (0, 0, 0, 0, 0, 0, 0),
    "dependency-api": (0.42, 0.11, 0.12, 0.12, 0.12, 0.11, 0.15),
    "imports": (0.15, 0.14, 0.17, 0.16, 0.14, 0.13, 0.12),
    "inter_module": (0.09, 0.14, 0.14, 0.14, 0.14, 0.13, 0.11),
    "data_flow": (0.08, 0.07, 0.09, 0.08, 0.06, 0.06, 0.06),
    "cnn": (0.5, 0.48, 0.44, 0.43, 0.45, 0.39, 0.39),
    "transformer": (0.65, 0.57, 0.61, 0.62, 0.61, 0.56, 0.56),
    "installation": (0.58, 0.52, 0.51, 0.55, 0.54, 0.48, 0.46),
    "complete_pipeline": (0.29, 0.28, 0.28, 0.29, 0.29, 0.26, 0.29),
    "persistence": (0.37, 0.27, 0.24, 0.26, 0.27, 0.22, 0.23),
    "course-tests": (3.74, 3.88, 3.44, 3.88, 3.68, 3.4, 3.42),
}


def trace_shaped_tasks(pythons=TRACE_PYTHONS):
    """The task graph of pipeline/pytasks.py (venv -> install -> checks -> course-tests -> clean-up per
    Python, plus one course-wide task) with the trace's weights; the tasks do nothing."""
    tasks = []
    for py in pythons:
        seconds = {stage: row[TRACE_PYTHONS.index(py)] for stage, row in TRACE_SECONDS.items()}
        checks = [f"{py}/{stage}" for stage in list(TRACE_SECONDS)[2:-1]]
        tasks.append(Task(f"{py}/venv", lambda: None, (), seconds["venv"]))
        tasks.append(Task(f"{py}/install", lambda: None, (f"{py}/venv",), seconds["install"]))
        tasks += [Task(key, lambda: None, (f"{py}/install",), seconds[key.split("/")[1]]) for key in checks]
        tasks.append(Task(f"{py}/course-tests", lambda: None, tuple(checks), seconds["course-tests"]))
        tasks.append(Task(f"{py}/clean-up", lambda: None, (*checks, f"{py}/course-tests"), 0.1))
    tasks.append(Task("course/editable", lambda: None, (), 5.49))
    return tasks


def test_alike_chains_on_two_workers_let_early_chains_run_ahead_and_lose_the_idle_tail():
    tasks = trace_shaped_tasks()
    plain = simulate(tasks, 2, critical_paths(tasks))
    chosen = plan(tasks, 2)
    better = simulate(tasks, 2, chosen.priority)
    assert chosen.rule != "critical path" and chosen.critical_path_makespan == plain.makespan
    assert better.makespan == chosen.makespan < plain.makespan - 1.0  # > 1 s of idle tail gone
    busy = sum(t.weight for t in tasks)
    assert busy / (2 * plain.makespan) < 0.96 < 0.99 < busy / (2 * better.makespan)  # utilisation on paper
    last_long_start = lambda sim: max(sim.starts[f"{py}/course-tests"] for py in TRACE_PYTHONS)  # noqa: E731
    assert last_long_start(better) < last_long_start(plain) - 1.0
    stats = run_tasks(tasks, workers=2)
    assert stats.rule == chosen.rule and stats.planned == chosen.makespan


def test_the_run_dispatches_by_the_plans_priorities(monkeypatch):
    from verifier.pipeline import schedule

    tasks = [Task(key, lambda: None, (), weight) for key, weight in (("a", 3.0), ("b", 2.0), ("c", 1.0))]
    assert run_tasks(tasks, workers=1).order == ["a", "b", "c"]  # critical path
    reverse = schedule.Plan("test rule", {"a": 1.0, "b": 2.0, "c": 3.0}, 6.0, 6.0)
    monkeypatch.setattr(schedule, "plan", lambda tasks, workers: reverse)
    stats = run_tasks(tasks, workers=1)
    assert stats.order == ["c", "b", "a"] and stats.rule == "test rule"


def test_critical_path_is_kept_where_no_lead_does_better():
    # one worker: every rule gives the summed weights; one group: nothing to lead
    tasks = trace_shaped_tasks()
    assert plan(tasks, 1).rule == "critical path"
    assert plan(trace_shaped_tasks(("3.12",)), 2).rule == "critical path"
    # four workers: every lead simulates longer than critical path, which stays
    four = plan(tasks, 4)
    assert four.rule == "critical path" and four.makespan == simulate(tasks, 4, critical_paths(tasks)).makespan
    # whatever the graph, the chosen plan is never longer on paper than critical path
    rng = random.Random(24)
    for _ in range(30):
        graph = []
        for i in range(rng.randint(2, 25)):
            after = tuple(t.key for t in rng.sample(graph, rng.randint(0, min(3, len(graph)))))
            graph.append(Task(f"t{i}", lambda: None, after, round(rng.uniform(0, 4), 2)))
        workers = rng.randint(1, 4)
        chosen = plan(graph, workers)
        assert chosen.makespan <= simulate(graph, workers, critical_paths(graph)).makespan
        assert chosen.makespan == simulate(graph, workers, chosen.priority).makespan


def test_the_plan_is_deterministic_and_cheap():
    first, again = plan(trace_shaped_tasks(), 2), plan(trace_shaped_tasks(), 2)
    assert (first.rule, first.priority, first.makespan) == (again.rule, again.priority, again.makespan)
    assert run_tasks(trace_shaped_tasks(), 1).order == run_tasks(trace_shaped_tasks(), 1).order
    started = time.process_time()
    for _ in range(5):
        plan(trace_shaped_tasks(), 2)
    assert (time.process_time() - started) / 5 < 0.1  # ~110 tasks: a few ms; generous for a busy machine


def test_connected_groups_follow_the_submission_order():
    edges = {"b": (), "a": ("b",), "c": (), "d": ("c",), "e": ()}
    assert connected_groups(edges, ["e", "a", "b", "c", "d"]) == [["e"], ["a", "b"], ["c", "d"]]
