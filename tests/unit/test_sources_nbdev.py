"""Reading sources as jupytext and nbdev 2.x do, every layout upstream used, and the package
__init__ each course asks for (each rule here was checked against the real tools)."""
from __future__ import annotations

import subprocess
import sys

from helpers import PYPROJECT

from verifier.course.discovery import load_course
from verifier.course.sources import read_source
from verifier.package.export import plan_export, write_package

IMPLICIT_FIRST_CELL = '''\
#| default_exp core.loader
import os

# %% [markdown]
# # Loader

# %%
#| export
def load():
    return 1
'''

DIRECTIVE_SPELLINGS = '''\
# %%
#| default_exp core.spell

# %%
#|export
def no_space(): pass

# %%
# |export
def space_before_bar(): pass

# %%
#| Export
def capitalised(): pass

# %%
# a plain comment ends the directive block
#| export
def after_comment(): pass

# %%
#| hide
#| export

def hidden_but_exported(): pass
'''

FUTURE = '''\
# %%
#| default_exp core.fut

# %%
#| export
from __future__ import annotations

# %%
#| export
def f(x: "int") -> int:
    return x
'''


def exported(root, out):
    plan = plan_export(load_course(root))
    write_package(plan, out)
    return plan


def test_lines_before_the_first_marker_are_jupytexts_first_cell(make_course, tmp_path):
    root = make_course({"01_loader/loader.py": IMPLICIT_FIRST_CELL})
    source = read_source(root / "modules/01_loader/loader.py")
    assert source.cells[0].kind == "code" and source.cells[0].first_line == 1
    assert source.cells[0].directive("default_exp").args == "core.loader"
    assert source.cells[0].body == ["import os"]
    plan = exported(root, tmp_path / "out")
    assert not plan.problems and list(plan.targets) == ["core.loader"]
    text = (tmp_path / "out/tinytorch/core/loader.py").read_text()
    assert "# %% modules/01_loader/loader.py:9 (cell 3)\ndef load():" in text


def test_directives_are_read_as_nbdev_reads_them(make_course, tmp_path):
    root = make_course({"01_spell/spell.py": DIRECTIVE_SPELLINGS})
    exported(root, tmp_path / "out")
    text = (tmp_path / "out/tinytorch/core/spell.py").read_text()
    for name in ("no_space", "space_before_bar", "hidden_but_exported"):
        assert f"def {name}" in text
    for name in ("capitalised", "after_comment"):  # nbdev: names are case-sensitive; a comment ends the block
        assert f"def {name}" not in text
    assert "__all__ = ['no_space', 'space_before_bar', 'hidden_but_exported']" in text
    assert "# %% modules/01_spell/spell.py:25 (cell 6)\ndef hidden_but_exported" in text  # blank line dropped


def test_future_imports_come_before_all(make_course, tmp_path):
    root = make_course({"01_fut/fut.py": FUTURE})
    exported(root, tmp_path / "out")
    done = subprocess.run([sys.executable, "-c", "import tinytorch.core.fut as m; print(m.__all__)"],
                          cwd=tmp_path / "out", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['f']"


def test_src_layout_is_found_without_configuration(tmp_path):
    root = tmp_path / "course"
    (root / "src/01_alpha").mkdir(parents=True)
    (root / "settings.ini").write_text("[DEFAULT]\nlib_name = tinytorch\nlib_path = tinytorch\n"
                                       "nbs_path = modules\nversion = 0.1.0\n")
    (root / "src/01_alpha/01_alpha.py").write_text("# %%\n#| default_exp core.alpha\n# %%\n#| export\nA = 1\n")
    course = load_course(root)
    assert course.layout == "D" and course.modules_dir == root / "src"
    assert course.modules[0].source == root / "src/01_alpha/01_alpha.py"
    plan = exported(root, tmp_path / "out")
    assert not plan.problems and (tmp_path / "out/tinytorch/core/alpha.py").is_file()


def test_tito_export_exits_1_and_names_each_module_it_could_not_export(make_course):
    root = make_course({"01_alpha/alpha.py": "# %%\n#| default_exp core.alpha\n# %%\n#| export\nA = 1\n",
                        "02_empty/module.yaml": "name: empty\n",
                        "03_broken/broken.py": "# %%\n#| default_exp core.broken\n# %%\n#| export\ndef f(:\n"})
    done = subprocess.run([sys.executable, "-m", "verifier.cli", "export", "--all", "--course", str(root)],
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in done.stderr
    assert "02_empty" in lines[0] and "broken.py:5" in lines[1]
    assert (root / "tinytorch/core/alpha.py").is_file()


def test_package_init_nbdev_writes_the_version_only(make_course, tmp_path):
    root = make_course({"01_alpha/alpha.py": "# %%\n#| default_exp core.alpha\n# %%\n#| export\nA = 1\n"})
    assert load_course(root).package_init == "nbdev"
    exported(root, tmp_path / "out")
    assert (tmp_path / "out/tinytorch/__init__.py").read_text() == '__version__ = "0.3.1"\n'
    assert (tmp_path / "out/tinytorch/core/__init__.py").read_text() == ""  # nbdev's add_init: empty
    exported(root, root)  # written into the course, nbdev's file is still recognised as nbdev's
    assert load_course(root).package_init == "nbdev"


def test_package_init_course_ships_the_committed_file_unchanged(make_course, tmp_path):
    root = make_course({"01_alpha/alpha.py": "# %%\n#| default_exp core.alpha\n# %%\n#| export\nA = 1\n"})
    own = '__version__ = "0.1.0"\n\nfrom .core.alpha import A\n'
    (root / "tinytorch/core").mkdir(parents=True)
    (root / "tinytorch/__init__.py").write_text(own)
    (root / "tinytorch/core/__init__.py").write_text("# the course's own\n")
    assert load_course(root).package_init == "course"
    exported(root, tmp_path / "out")
    assert (tmp_path / "out/tinytorch/__init__.py").read_text() == own
    assert (tmp_path / "out/tinytorch/core/__init__.py").read_text() == "# the course's own\n"
    exported(root, root)
    assert (root / "tinytorch/__init__.py").read_text() == own


def test_package_init_star_imports_is_an_explicit_choice(make_course, tmp_path):
    pyproject = PYPROJECT + '\n[tool.tinytorch]\ninit = "star-imports"\n'
    root = make_course({"01_alpha/alpha.py": "# %%\n#| default_exp core.alpha\n# %%\n#| export\nA = 1\n"},
                       pyproject=pyproject)
    exported(root, tmp_path / "out")
    assert "from .core.alpha import *" in (tmp_path / "out/tinytorch/__init__.py").read_text()


def test_each_read_of_a_source_gets_cells_of_its_own(tmp_path):
    """read_source keeps a file's cells for the next read of the same text: what one caller changes in
    its cells (lists, directives, kept lines) never reaches the next caller's."""
    source = tmp_path / "m.py"
    source.write_text("# %%\n#| default_exp core.m\n\n# %%\n#| export\n#| label: x\ndef f():\n    return 1\n",
                      encoding="utf-8")
    first = read_source(source, tmp_path)
    expected = [(c.lines[:], c.directives[:], c.body_indices[:], dict(c.kept), c.body) for c in first.cells]
    for cell in first.cells:
        cell.lines.append("# changed")
        cell.directives.clear()
        cell.body_indices.append(0)
        cell.kept[0] = "changed"
    second = read_source(source, tmp_path)
    assert [(c.lines, c.directives, c.body_indices, c.kept, c.body) for c in second.cells] == expected
    assert any(c.kept for c in second.cells) and any(c.directives for c in second.cells)
