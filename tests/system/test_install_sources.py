"""System test: tinytorch-verifier never downloads from where a course file says. A trap HTTP server on 127.0.0.1
counts every request; a copy of the embedded course whose lock names it (--index-url,
--extra-index-url, -f, `numpy @ http://…`) is refused by `tinytorch-verifier verify` with the lock's file:line and
exit 2, and the trap got zero requests. A wrong --hash in a lock fails the real install naming the
package, both hashes and the lock line, with uv and with pip."""
from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, List

import pytest
from helpers import EMBEDDED_COURSE

from verifier.course.lockfile import read_lock
from verifier.runner.envs import create_venv, find_uv, install_failure

pytestmark = pytest.mark.system
HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"


class Trap:
    """An HTTP server on 127.0.0.1 (never another address) that answers 404 and counts requests."""

    def __init__(self) -> None:
        self.requests: List[str] = []
        trap = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                trap.requests.append(self.path)
                self.send_error(404)

            do_HEAD = do_GET

            def log_message(self, format: str, *args: object) -> None:  # quiet test output
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Trap":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def trap() -> Iterator[Trap]:
    with Trap() as server:
        yield server


def test_the_trap_counts_what_reaches_it(trap):
    """The zero below means something: a real request is counted."""
    import urllib.error
    import urllib.request
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(trap.url + "/simple/numpy/", timeout=10)
    assert trap.requests == ["/simple/numpy/"]


def course_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "course"
    shutil.copytree(EMBEDDED_COURSE, copy, ignore=shutil.ignore_patterns("tinytorch", "__pycache__", "*.pyc"))
    return copy


@pytest.mark.parametrize("line, says", [
    ("--index-url {url}/simple", "sets the package index"),
    ("--extra-index-url {url}/simple", "adds a package index"),
    ("-f {url}/wheels/", "adds a find-links location"),
    ("numpy @ {url}/numpy-2.0.2-py3-none-any.whl", "URL requirement"),
])
def test_a_lock_naming_a_server_is_refused_and_the_server_never_contacted(tmp_path, trap, line, says):
    course = course_copy(tmp_path)
    lock = course / "locks" / f"py{HERE}.txt"
    if not lock.is_file():
        pytest.skip(f"the embedded course has no lock for Python {HERE}")
    lines = lock.read_text().splitlines()
    lines.insert(3, line.format(url=trap.url))  # after the header comments, before the pins
    lock.write_text("\n".join(lines) + "\n")
    done = subprocess.run([sys.executable, "-m", "verifier.cli", "verify", "--course", str(course), "--python", HERE,
                           "--reports", str(tmp_path / "reports")], capture_output=True, text=True, timeout=300,
                          cwd=course)  # run inside the course, as a student would
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert f"{lock}:4: " in output and says in output, output
    assert "Traceback" not in output
    assert trap.requests == [], f"the server the lock names was contacted: {trap.requests}"


def test_a_course_configuring_uv_in_its_pyproject_is_not_obeyed(tmp_path, trap):
    """uv reads [tool.uv] from the folder it runs in: run inside the course, it must still not be read."""
    course = course_copy(tmp_path)
    pyproject = course / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f'\n[tool.uv]\nextra-index-url = ["{trap.url}/simple"]\n')
    done = subprocess.run([sys.executable, "-m", "verifier.cli", "verify", "--course", str(course), "--python", HERE,
                           "--scenario", "imports", "--no-tests", "--installer", "uv",
                           "--reports", str(tmp_path / "reports")],
                          capture_output=True, text=True, timeout=900, cwd=course)
    assert "Traceback" not in done.stdout + done.stderr
    assert trap.requests == [], f"uv read the course's [tool.uv] index: {trap.requests}"
    report = json.loads((tmp_path / "reports" / "verify.json").read_text())
    stages = {stage["name"]: stage for stage in report["pythons"][0]["stages"]}
    assert stages["install"]["status"] == "passed", stages["install"]  # uv did build and install: no vacuous zero
    assert stages["install"]["figures"]["installer"] == "uv"


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_wrong_hash_in_the_lock_names_the_package_the_hashes_and_the_lock_line(tmp_path, installer):
    if installer == "uv" and find_uv() is None:
        pytest.skip("uv is not installed")
    course = course_copy(tmp_path)
    lock = course / "locks" / f"py{HERE}.txt"
    if not lock.is_file():
        pytest.skip(f"the embedded course has no lock for Python {HERE}")
    wrong = "ab" * 32
    lines = lock.read_text().splitlines()
    number = next(i for i, row in enumerate(lines, 1) if row.startswith("numpy=="))
    lines[number - 1] += f" \\\n    --hash=sha256:{wrong}"
    lock.write_text("\n".join(lines) + "\n")
    pins = read_lock(lock, course)
    venv = create_venv(Path(sys.executable), tmp_path / "venv")
    done = venv.install(["numpy"], constraints=pins, installer=installer)
    assert not done.ok
    line = install_failure(done.stdout + "\n" + done.stderr, HERE, lock.name, pins)
    version = pins.pins_named("numpy")[0].version
    assert line.startswith(f"numpy=={version}: the downloaded file has sha256:"), line
    assert f"{lock}:{number} expects sha256:{wrong}" in line, line
