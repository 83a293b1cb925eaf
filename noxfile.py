"""nox sessions of tinytorch-verifier — a table of contents; the work is done in `verifier/`.

  nox -s verify   export, validate, build and verify the course wheel on every Python of its matrix
  nox -s tests    the verifier's own tests
  nox -s compat   the verifier's unit tests on its oldest and newest Python (3.9, 3.15)
  nox -s faults   the fault-injection corpus: every seeded fault must block the gate
  nox -s bench    course speed beside PyTorch and the matmul peak (ratios, fraction of peak, one run),
                  after `tinytorch-verifier package validate` timed as a whole process
                  (tinytorch-verifier bench --validate)
  nox -s bench -- --pipelines   tinytorch-verifier verify's per-Python work beside tox and tox-uv, timed in one run
  nox -s lint     ruff: real mistakes and import order
  nox -s typecheck  mypy over verifier/
Pass options after `--`, e.g. `nox -s verify -- --course ../TinyTorch --python 3.14`.
"""
import os
from pathlib import Path

import nox

# pyenv's Pythons (3.9–3.15 on these machines) are not on PATH as python3.X: appended, so that nox's own
# discovery finds the `compat` session's interpreters while every other session keeps the first python.
for _bin in sorted((Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions").glob("3.*/bin")):
    os.environ["PATH"] += os.pathsep + str(_bin)

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


# uv makes the session's venv when nox can find it (`pip install "nox[uv]"`: set-up ~3 s instead of ~13 s),
# else virtualenv and pip as before; the venvs verify itself makes are virtualenv's either way
@nox.session(venv_backend="uv|virtualenv")
def verify(session: nox.Session) -> None:
    """The main job: the release check of the course (default: the embedded course)."""
    session.install("-e", ".", env={"UV_COMPILE_BYTECODE": "1"})  # compiled now, not on the run's first import
    session.run("tinytorch-verifier", "verify", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The verifier's unit, integration and system tests."""
    session.install("-e", ".[test]")
    session.run("pytest", *(session.posargs or ["tests", "-m", "not faults"]))


@nox.session(python=["3.9", "3.15"])
def compat(session: nox.Session) -> None:
    """The verifier's unit tests on the oldest and the newest Python it supports (nox finds pyenv and uv
    installs; `../shared/tools/provision-pythons` provides 3.15 on these machines). The Hypothesis fuzz
    files (tests/unit/test_fuzz_*.py, ~100 s) run once, in `tests`: here every code path they reach runs
    through the unit tests, and what is being checked is the Python, not more random inputs."""
    session.install("-e", ".[test]")
    session.run("pytest", *(session.posargs or ["tests/unit", "-q", "-p", "no:cacheprovider",
                                                "--ignore-glob=tests/unit/test_fuzz_*.py"]))


@nox.session
def faults(session: nox.Session) -> None:
    """Seeded faults in copies of the course: each must block, at the right stage and module."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/system/test_faults.py", "tests/system/test_roles.py", "-m", "faults", "-rA",
                *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Course speed beside PyTorch (ratios) and the single-core matmul peak (fraction), measured in one run,
    after the whole-process time of `tinytorch-verifier package validate` (verifier/bench/process.py).
    With `-- --pipelines`: tinytorch-verifier verify, tox and tox with tox-uv on the same wheel
    (verifier/bench/pipelines.py); tox and tox-uv go into this session's venv only, never into the
    project's dependencies."""
    session.install("-e", ".")
    # first, in the same run: `tinytorch-verifier package validate` timed as a whole process (target: median <= 0.3 s)
    course = session.posargs[session.posargs.index("--course"):][:2] if "--course" in session.posargs else []
    session.run("tinytorch-verifier", "bench", "--validate", *course)
    if "--pipelines" in session.posargs:
        session.install("tox>=4")
        # a failed install leaves tox_uv unimportable: the bench then says so and skips that row
        session.install("tox-uv", success_codes=[0, 1])
    session.run("tinytorch-verifier", "bench", *session.posargs)


@nox.session
def lock(session: nox.Session) -> None:
    """Refresh the course's per-Python lock files with pip-tools."""
    session.install("-e", ".")
    session.run("tinytorch-verifier", "package", "lock", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the verifier, its tests, the scenarios and the benchmarks (config in pyproject.toml)."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "verifier", "tests", "student_scenarios", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over verifier/ (config in pyproject.toml): the annotations are checked, not decoration."""
    session.install("-e", ".", "mypy>=1.8", "types-PyYAML")
    session.run("mypy")
