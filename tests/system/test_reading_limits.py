"""Hostile course files through the real command line: a 2.6-million-element list literal (5 MiB, under
the size cap) keeps `tinytorch-verifier package validate` and `tinytorch-verifier export` under 1 GiB of peak
memory (it took 2.5 GB before the parse budget), and a FIFO in the committed package is a one-line answer from both
commands instead of a hang (validate) or a crash (export)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from helpers import MINI_MODULE, MINI_PYPROJECT, REPO, write_course

GIB = 1024 * 1024 * 1024
# runs one command in a fresh process and prints the peak RSS of that command alone (a fresh parent
# has no other children, so RUSAGE_CHILDREN is exactly the command's)
MEASURE = ("import resource, subprocess, sys, json; done = subprocess.run(sys.argv[1:], capture_output=True, "
           "text=True); print(json.dumps({'rc': done.returncode, 'out': done.stdout + done.stderr, "
           "'maxrss_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")


def _course(root):
    return write_course(root, {"01_alpha/alpha.py": MINI_MODULE}, pyproject=MINI_PYPROJECT,
                        yamls={"01_alpha": "name: alpha\nexports_to: tinytorch.core.alpha\n"
                                           "dependencies:\n  prerequisites: []\ncomponents: [double]\n"})


def _tito(args, tmp_path, timeout=600):
    done = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "verifier.cli", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO), "TITO_LOG_DIR": str(tmp_path)})
    return json.loads(done.stdout)


def test_a_huge_list_literal_stays_under_one_gib(tmp_path):
    root = _course(tmp_path / "course")
    source = root / "modules/01_alpha/alpha.py"
    source.write_text(MINI_MODULE + "\n# %%\n#| export\nBIG = [" + "1," * 2_600_000 + "]\n")
    assert 5_000_000 < source.stat().st_size < 5 * 1024 * 1024  # under the source size cap
    validate = _tito(["package", "validate", "--course", str(root)], tmp_path)
    assert validate["rc"] == 1 and "TT011" in validate["out"] and "Traceback" not in validate["out"]
    assert "modules/01_alpha/alpha.py:13" in validate["out"]
    assert validate["maxrss_kib"] * 1024 < GIB, validate["maxrss_kib"]
    export = _tito(["export", "--course", str(root)], tmp_path)
    assert export["rc"] in (1, 2) and "too large to analyse" in export["out"], export["out"][-500:]
    assert export["maxrss_kib"] * 1024 < GIB, export["maxrss_kib"]
    print(f"peak RSS: validate {validate['maxrss_kib'] // 1024} MiB, export {export['maxrss_kib'] // 1024} MiB")


def test_a_fifo_in_the_package_is_one_line_from_validate_and_export(tmp_path):
    root = _course(tmp_path / "course")
    (root / "tinytorch/core").mkdir(parents=True)
    (root / "tinytorch/__init__.py").write_text("")
    os.mkfifo(root / "tinytorch/core/x.py")
    validate = _tito(["package", "validate", "--course", str(root)], tmp_path, timeout=120)
    assert validate["rc"] == 1 and "TT009 error at tinytorch/core/x.py" in validate["out"], validate["out"][-800:]
    export = _tito(["export", "--course", str(root)], tmp_path, timeout=120)
    assert export["rc"] == 2, export["out"]
    assert "tinytorch/core/x.py: is a named pipe (FIFO), not a regular file — remove it" in export["out"]
    assert "internal error" not in export["out"]


def test_verify_with_a_fifo_in_tests_reports_instead_of_crashing(tmp_path):
    """The course-tests stage copies tests/: a FIFO there made copytree fail (exit 3, no verify.json)."""
    root = _course(tmp_path / "course")
    (root / "tests").mkdir()
    (root / "tests/test_alpha.py").write_text("from tinytorch.core.alpha import double\n\n"
                                              "def test_double():\n    assert double(2) == 4\n")
    os.mkfifo(root / "tests/pipe")
    here = f"{sys.version_info[0]}.{sys.version_info[1]}"
    done = _tito(["verify", "--python", here, "--scenario", "imports", "--course", str(root),
                  "--reports", str(tmp_path / "reports")], tmp_path)
    assert done["rc"] == 1, done["out"][-2000:]  # blocked by TT009, not an internal error
    assert "internal error" not in done["out"]
    data = json.loads((tmp_path / "reports/verify.json").read_text())
    stages = {s["name"]: s for p in data["pythons"] for s in p["stages"]}
    assert stages["course-tests"]["status"] == "passed", stages["course-tests"]
