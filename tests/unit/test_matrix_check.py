"""The matrix check (TT235): classifiers and requires-python must name the same Pythons; each drop is a
blocker naming both lines of pyproject.toml. Cases where it must fire, and real trees where it must not."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from verifier.checks.validate import validate
from verifier.course.discovery import load_course
from verifier.course.matrix import EXCLUDED, UNLISTED, matrix_plan, python_matrix
from verifier.course.pyversions import NEWEST_KNOWN
from verifier.pipeline.gate import decide

SOURCE = {"01_alpha/alpha.py": "# %%\n#| default_exp core.alpha\n\n# %%\n#| export\ndef double(x):\n    return 2 * x\n"}
REPO = Path(__file__).resolve().parents[2]


def pyproject(requires, versions, bare=True):
    lines = ['"Programming Language :: Python :: 3",'] if bare else []
    lines += [f'    "Programming Language :: Python :: {v}",' for v in versions]
    req = f'requires-python = "{requires}"\n' if requires is not None else ""
    return ('[project]\nname = "tinytorch"\nversion = "1.0"\n' + req +
            'dependencies = []\nclassifiers = [\n' + "\n".join(lines) + '\n]\n')


def matrix_findings(root):
    return [f for f in validate(load_course(root)).findings if f.code == "TT235"]


def test_classifier_excluded_by_requires_python_fires_at_the_classifier_naming_both_lines(make_course):
    root = make_course(SOURCE, pyproject=pyproject(">=3.9,<3.13", ["3.9", "3.10", "3.11", "3.12", "3.13"]))
    (finding,) = matrix_findings(root)
    assert finding.path == "pyproject.toml" and finding.line == 12  # the 3.13 classifier's line
    assert "pyproject.toml:12" in finding.issue and "pyproject.toml:4" in finding.issue  # both lines
    assert finding.pythons == ("3.13",) and finding.severity == "error"
    assert python_matrix(load_course(root)) == ["3.9", "3.10", "3.11", "3.12"]


def test_pythons_allowed_without_classifier_give_one_finding_at_requires_python(make_course):
    root = make_course(SOURCE, pyproject=pyproject(">=3.9", ["3.9", "3.11"]))
    (finding,) = matrix_findings(root)
    assert finding.line == 4 and "pyproject.toml:6" in finding.issue  # requires-python, then `classifiers = [`
    assert finding.pythons == ("3.10", "3.12", "3.13")
    assert "Programming Language :: Python :: 3.12" in finding.fix
    plan = matrix_plan(load_course(root))
    assert {(d.version, d.reason) for d in plan.dropped} == {("3.10", UNLISTED), ("3.12", UNLISTED),
                                                             ("3.13", UNLISTED)}


def test_both_directions_at_once(make_course):
    root = make_course(SOURCE, pyproject=pyproject(">=3.10", ["3.9", "3.10", "3.11", "3.12"]))
    found = matrix_findings(root)
    assert sorted(f.pythons for f in found) == [("3.13",), ("3.9",)]
    assert {d.reason for d in matrix_plan(load_course(root)).dropped} == {EXCLUDED, UNLISTED}


@pytest.mark.parametrize("requires, versions", [
    (">=3.9", ["3.9", "3.10", "3.11", "3.12", "3.13"]),      # the embedded course's form
    (">=3.8.1", ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]),  # a patch lower bound still allows 3.8
    (">=3.9,<3.12", ["3.9", "3.10", "3.11"]),                 # an upper bound needs no newer classifier
    (">=3.10,!=3.11.*", ["3.10", "3.12", "3.13"]),            # an excluded minor needs no classifier
    (">=3.12", ["3.12", "3.13", "3.14"]),                     # a classifier newer than the newest known
    ("<=3.12", ["3.10", "3.11", "3.12"]),                     # no lower bound: from the oldest classifier
    (None, ["3.9", "3.13"]),                                  # no requires-python: TT005, not TT235
    (">=3.9", []),                                            # no 3.X classifier at all: matrix from requires
])
def test_consistent_or_undecidable_matrices_do_not_fire(make_course, requires, versions):
    root = make_course(SOURCE, pyproject=pyproject(requires, versions))
    assert matrix_findings(root) == []


def test_newest_known_is_3_13_and_bounds_the_fallback_matrix(make_course):
    assert NEWEST_KNOWN == (3, 13)
    root = make_course(SOURCE, pyproject=pyproject(">=3.11", [], bare=False))
    assert python_matrix(load_course(root)) == ["3.11", "3.12", "3.13"]


def test_embedded_course_has_no_matrix_finding():
    assert matrix_findings(REPO / "course") == []


@pytest.mark.parametrize("commit, dropped", [("4246c759", ("3.12", "3.13")), ("ce776937", ("3.12", "3.13")),
                                             ("52e1cf6f", None)])
def test_real_upstream_trees(tmp_path, make_course, corpus_trees, commit, dropped):
    """Upstream: requires-python >=3.8 with classifiers up to 3.11 (two snapshots: 3.12 and 3.13 are
    truly dropped, one finding each), or up to 3.13 (52e1cf6f: consistent, no finding)."""
    tree = corpus_trees[commit]
    # the pyproject.toml alone, in a one-module course (52e1cf6f's src/ layout is not loadable as a course)
    root = make_course(SOURCE, pyproject=(tree / "pyproject.toml").read_text(encoding="utf-8"))
    found = matrix_findings(root)
    if dropped is None:
        assert found == []
    else:
        (finding,) = found
        assert finding.pythons == dropped and finding.line == 10
    if commit != "52e1cf6f":  # the whole tree, as `tito package validate --course` reads it: one finding
        copy = tmp_path / "tree"
        shutil.copytree(tree, copy)
        assert [f.pythons for f in matrix_findings(copy)] == [dropped]


def test_gate_blocks_a_dropped_python_by_code_naming_it(result):
    r = result()
    r.findings = [{"code": "TT235", "severity": "error", "module": "course", "path": "pyproject.toml", "line": 13,
                   "issue": "the classifier ... is excluded", "fix": "x", "pythons": ["3.13"], "waived": None}]
    (blocker,) = decide(r).blockers
    assert blocker.category == "Python dropped from the matrix" and blocker.python == "3.13"
    assert "pyproject.toml:13" in blocker.describe()
    r.findings[0]["waived"] = "fixture: oldest and newest only"
    assert decide(r).blockers == []
