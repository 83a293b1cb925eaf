"""Student scenarios forked from one process per Python (runner/forkserver.py) are judged exactly as a
process of their own per scenario: the same status, one-line detail, figures and blame for a scenario
that passes, fails an assert, raises in the package, exits with a code, hangs past its timeout or
hits the memory limit; several run side by side; the CPU meter counts them; a closed server answers
None (the caller then starts a process)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from verifier.runner.envs import Venv
from verifier.runner.forkserver import ScenarioServer
from verifier.runner.processes import metered
from verifier.runner.scenarios import Scenario, run_scenario, scenario_env

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork server exists on POSIX only")

PACKAGE = "fakepkg"
SCRIPTS = {
    "passes": "import json, sys, fakepkg\nassert sys.argv == ['passes.py'] and __name__ == '__main__'\n"
              "import pickle\nclass Point:\n    pass\npickle.loads(pickle.dumps(Point()))\n"
              "print('TITO_RESULT ' + json.dumps({'answer': fakepkg.answer(), 'cwd': __import__('os').getcwd()"
              "[-len('scenario-passes'):]}))\n",
    "fails": "x = 2\nassert x == 3, f'x is {x}'\n",
    "raises": "import fakepkg\nfakepkg.broken()\n",
    "exits": "import sys\nprint('partial')\nsys.exit(3)\n",
    "hangs": "import time\nwhile True:\n    time.sleep(0.05)\n",
    "memory": "block = bytearray(900 * 1024 * 1024)\nprint(len(block))\n",
    "thread_then_exit": "import threading, time, atexit\n"
                        "atexit.register(lambda: print('TITO_RESULT {\"atexit\": 1}'))\n"
                        "threading.Thread(target=lambda: time.sleep(0.3)).start()\n",
}
PACKAGE_CODE = "def answer():\n    return 42\n\n\ndef broken():\n    raise RuntimeError('the package broke')\n"


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Venv:
    root = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    made = Venv(root)
    purelib = subprocess.run([str(made.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / PACKAGE).mkdir(parents=True)
    (Path(purelib) / PACKAGE / "__init__.py").write_text(PACKAGE_CODE)
    return made


def scenarios(tmp_path: Path):
    folder = tmp_path / "scripts"
    folder.mkdir()
    found = {}
    for name, text in SCRIPTS.items():
        (folder / f"{name}.py").write_text(text)
        found[name] = Scenario(name, folder / f"{name}.py", 2.0 if name == "hangs" else 30.0, ())
    return found


def judged(stage):
    """What the report says about a scenario (its time and raw log are not judgement)."""
    blame = stage.attribution
    return (stage.status, stage.detail, {k: v for k, v in stage.figures.items()},
            (blame.module, blame.path, blame.line) if blame else None)


def test_forked_and_separate_processes_judge_every_outcome_alike(venv, tmp_path):
    found = scenarios(tmp_path)
    server = ScenarioServer(venv, scenario_env({}), 400, tmp_path)
    try:
        for name, scenario in found.items():
            alone = run_scenario(venv, scenario, tmp_path / "alone", PACKAGE, memory_mb=400)
            with metered() as meter:
                forked = run_scenario(venv, scenario, tmp_path / "forked", PACKAGE, memory_mb=400, server=server)
            assert judged(forked) == judged(alone), name
            assert meter.processes == 1 and meter.seconds > 0, name
    finally:
        server.close()


def test_the_outcomes_are_what_a_student_sees(venv, tmp_path):
    found = scenarios(tmp_path)
    server = ScenarioServer(venv, scenario_env({}), 400, tmp_path)
    try:
        seen = {name: run_scenario(venv, s, tmp_path / "w", PACKAGE, memory_mb=400, server=server)
                for name, s in found.items()}
    finally:
        server.close()
    assert seen["passes"].status == "passed" and seen["passes"].figures == {"answer": 42, "cwd": "scenario-passes"}
    assert seen["fails"].detail == "AssertionError: x is 2"
    assert seen["exits"].detail == "exit code 3"
    assert seen["hangs"].detail == "timed out after 2 s (stopped)"
    assert 'hangs.py", line 3' in seen["hangs"].log   # faulthandler printed where it was stuck
    assert seen["memory"].status == "failed" and "MemoryError" in seen["memory"].detail
    assert seen["thread_then_exit"].status == "passed" and seen["thread_then_exit"].figures == {"atexit": 1}
    assert "fakepkg" not in seen["raises"].log.split("Traceback")[0]
    assert 'File "<string>"' not in seen["raises"].log   # the server's own frame is not shown


def test_scenarios_of_one_python_run_side_by_side(venv, tmp_path):
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "slow.py").write_text("import time\ntime.sleep(1.0)\nprint('TITO_RESULT {\"ok\": 1}')\n")
    server = ScenarioServer(venv, scenario_env({}), 400, tmp_path)
    results = {}

    def one(number: int) -> None:
        results[number] = run_scenario(venv, Scenario("slow", folder / "slow.py", 30.0, ()), tmp_path / str(number),
                                       PACKAGE, server=server)
    try:
        threads = [threading.Thread(target=one, args=(n,)) for n in range(3)]
        began = __import__("time").monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        took = __import__("time").monotonic() - began
    finally:
        server.close()
    assert all(r.status == "passed" and r.figures == {"ok": 1} for r in results.values()) and len(results) == 3
    assert took < 2.8   # three 1-second scenarios at once, not one after the other
    assert server.run("slow.py", tmp_path / "0", 5.0) is None   # closed: the caller starts a process


def test_a_server_killed_mid_scenario_ends_it_and_runs_nothing_again(venv, tmp_path):
    """What Ctrl-C does to a run (its children's groups killed): the scenario in flight is reported as
    ended, at once — it is not started again in a process of its own, which the cancelled run would
    then wait for — and the forked child dies with its server."""
    import signal
    import time

    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "sleeps.py").write_text("import os, time\nopen('pid', 'w').write(str(os.getpid()))\ntime.sleep(60)\n")
    server = ScenarioServer(venv, scenario_env({}), 400, tmp_path)
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(result=run_scenario(
        venv, Scenario("sleeps", folder / "sleeps.py", 120.0, ()), tmp_path / "w", PACKAGE, server=server)))
    thread.start()
    pid_file = tmp_path / "w" / "scenario-sleeps" / "pid"
    deadline = time.monotonic() + 30
    while not (pid_file.is_file() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    began = time.monotonic()
    os.killpg(server.proc.pid, signal.SIGKILL)  # the server's group, as kill_all does
    thread.join(20)
    try:
        assert not thread.is_alive() and time.monotonic() - began < 10
        assert outcome["result"].status == "failed"
        assert outcome["result"].detail == "the scenario server ended while this scenario ran"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the forked scenario outlived its server")
    finally:
        server.close()
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
