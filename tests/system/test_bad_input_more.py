"""More hostile course trees (a new user trying to break tinytorch-verifier): each is refused with exit 1 or 2 and one
clear line naming the file, never a traceback or exit 3, and the course tree is left unchanged.
Every case here crashed (exit 3) or wrote a broken package before its fix."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import pytest
from helpers import MINI_MODULE, MINI_PYPROJECT, REPO, write_course

TOOL = '\n[tool.tinytorch]\nmodules = "modules"\npackage = "tinytorch"\nlocation = "core"\n'
# as root, permissions apply only with the DAC-override capabilities dropped
PRIV = (["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", "--"]
        if os.geteuid() == 0 else [])


def mini(root, module=MINI_MODULE, pyproject=MINI_PYPROJECT + TOOL):
    write_course(root, {"01_alpha/alpha.py": module}, pyproject=pyproject)


def module_folder_unsearchable(root):
    mini(root)
    (root / "modules/01_alpha/module.yaml").write_text("name: alpha\n")
    (root / "modules/01_alpha").chmod(0)


def modules_folder_unlistable(root):
    mini(root)
    (root / "modules").chmod(0o300)


def course_root_unlistable(root):
    mini(root)
    root.chmod(0o300)


def toml_integer_too_long(root):
    mini(root, pyproject=MINI_PYPROJECT + TOOL + "big = " + "9" * 10000 + "\n")


def default_exp_part_too_long(root):
    mini(root, module=MINI_MODULE.replace("core.alpha", "core." + "a" * 300))


def default_exp_keyword(root):
    mini(root, module=MINI_MODULE.replace("core.alpha", "core.class"))


def package_keyword(root):
    mini(root, pyproject=MINI_PYPROJECT + TOOL.replace('package = "tinytorch"', 'package = "class"'))


def location_keyword(root):
    mini(root, pyproject=MINI_PYPROJECT + TOOL.replace('location = "core"', 'location = "core.def"'))


PERMISSIONS = {"module_folder_unsearchable", "modules_folder_unlistable", "course_root_unlistable"}
TOOL_LINE = MINI_PYPROJECT.count("\n") + 1  # the line of TOOL's header; its keys follow
# (mutation, command, expected exit, a phrase of the one line)
CASES = [
    (module_folder_unsearchable, "package validate", 2, "module.yaml: cannot be read: permission denied"),
    (modules_folder_unlistable, "export --all", 2, "modules: cannot be read: permission denied"),
    (course_root_unlistable, "export --all", 2, "course: cannot be read: permission denied"),
    (course_root_unlistable, "package validate", 2, "course: cannot be read: permission denied"),
    (toml_integer_too_long, "package validate", 2, f"pyproject.toml:{TOOL_LINE + 5}: not valid TOML: a number"),
    (default_exp_part_too_long, "export --all", 1, "alpha.py:2: `#| default_exp core.aaa"),
    (default_exp_keyword, "export --all", 1, "alpha.py:2: `#| default_exp core.class` is not a dotted module path"),
    (package_keyword, "export --all", 2, f"pyproject.toml:{TOOL_LINE + 3}: [tool.tinytorch] package 'class'"),
    (location_keyword, "package validate", 2, f"pyproject.toml:{TOOL_LINE + 4}: [tool.tinytorch] location 'core.def'"),
]


def _tree_digest(root):
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):  # top-down, sorted in place: the pruning below applies
        dirs[:] = sorted(d for d in dirs if d not in ("tinytorch", "__pycache__"))  # export writes the package
        for name in sorted(files):
            path = os.path.join(folder, name)
            digest.update(path.encode())
            try:
                with open(path, "rb") as handle:
                    digest.update(handle.read())
            except OSError as exc:
                digest.update(str(exc.errno).encode())
    return digest.hexdigest()


@pytest.mark.parametrize("make, command, code, phrase", CASES,
                         ids=[f"{make.__name__}-{command.replace(' ', '_')}" for make, command, _, _ in CASES])
def test_hostile_tree_is_one_line_and_untouched(make, command, code, phrase, tmp_path):
    if make.__name__ in PERMISSIONS and os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("root without setpriv: permissions do not apply")
    root = tmp_path / "course"
    make(root)
    before = _tree_digest(root)  # an unreadable entry digests as its errno, the same both times
    try:
        done = subprocess.run([*(PRIV if make.__name__ in PERMISSIONS else []), sys.executable, "-m", "verifier.cli",
                               *command.split(), "--course", str(root)],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(REPO), "TITO_LOG_DIR": str(tmp_path)})
        after = _tree_digest(root)
    finally:
        for folder, _dirs, _ in os.walk(tmp_path):  # let pytest clean up
            os.chmod(folder, 0o755)
        root.chmod(0o755)
        for path in root.rglob("*"):
            path.chmod(0o755)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output[-3000:]
    assert done.returncode == code, output[-2000:]
    assert phrase in output, output[-2000:]
    if code == 2:
        said = [line for line in done.stderr.splitlines() if line.startswith("tinytorch-verifier:")]
        assert len(said) == 1, done.stderr
    assert before == after
