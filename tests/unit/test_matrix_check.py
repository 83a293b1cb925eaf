"""The matrix check (TT235): classifiers and requires-python must name the same Pythons; each drop is a
blocker naming both lines of pyproject.toml. TT236: an advisory when the matrix holds a Python past its end
of life. Cases where they must fire, and real trees where they must not (or, today, must)."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from helpers import write_course

from verifier.checks.validate import validate
from verifier.course.discovery import load_course
from verifier.course.matrix import EXCLUDED, UNLISTED, known_pythons, matrix_plan, python_matrix
from verifier.course.pycalendar import newest_released
from verifier.pipeline.gate import decide

SOURCE = {"01_alpha/alpha.py": "# %%\n#| default_exp core.alpha\n\n# %%\n#| export\ndef double(x):\n    return 2 * x\n"}
REPO = Path(__file__).resolve().parents[2]


def pyproject(requires, versions, bare=True):
    lines = ['"Programming Language :: Python :: 3",'] if bare else []
    lines += [f'    "Programming Language :: Python :: {v}",' for v in versions]
    req = f'requires-python = "{requires}"\n' if requires is not None else ""
    return ('[project]\nname = "tinytorch"\nversion = "1.0"\n' + req +
            'dependencies = []\nclassifiers = [\n' + "\n".join(lines) + '\n]\n')


def matrix_findings(root, code="TT235"):
    return [f for f in validate(load_course(root)).findings if f.code == code]


BEFORE_314 = dt.date(2025, 6, 1)   # newest released: 3.13
TODAY = dt.date(2026, 12, 6)       # newest released: 3.15; 3.8, 3.9 and 3.10 past their end of life
# released Pythons after 3.13 at the real today (3.14, 3.15 in December 2026; grows with the calendar)
AFTER_313 = tuple(v for v in known_pythons() if v not in {f"3.{m}" for m in range(8, 14)})


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
    assert finding.pythons == ("3.10", "3.12", "3.13") + AFTER_313
    assert "Programming Language :: Python :: 3.12" in finding.fix
    plan = matrix_plan(load_course(root), on=BEFORE_314)
    assert {(d.version, d.reason) for d in plan.dropped} == {("3.10", UNLISTED), ("3.12", UNLISTED),
                                                             ("3.13", UNLISTED)}
    later = matrix_plan(load_course(root), on=TODAY)  # once 3.14 and 3.15 are out, their classifiers are due
    assert [d.version for d in later.dropped] == ["3.10", "3.12", "3.13", "3.14", "3.15"]


def test_both_directions_at_once(make_course):
    root = make_course(SOURCE, pyproject=pyproject(">=3.10", ["3.9", "3.10", "3.11", "3.12"]))
    found = matrix_findings(root)
    assert sorted(f.pythons for f in found) == [("3.13",) + AFTER_313, ("3.9",)]
    assert {d.reason for d in matrix_plan(load_course(root)).dropped} == {EXCLUDED, UNLISTED}


ALL_FROM_39 = [f"3.{m}" for m in range(9, 16)]


@pytest.mark.parametrize("requires, versions", [
    (">=3.9", ALL_FROM_39),                                   # the embedded course's form
    (">=3.8.1", ["3.8"] + ALL_FROM_39),                       # a patch lower bound still allows 3.8
    (">=3.9,<3.12", ["3.9", "3.10", "3.11"]),                 # an upper bound needs no newer classifier
    (">=3.10,!=3.11.*", ["3.10", "3.12", "3.13", "3.14", "3.15"]),  # an excluded minor needs no classifier
    (">=3.12", ["3.12", "3.13", "3.14", "3.15", "3.16"]),     # a classifier of a Python not released yet
    ("<=3.12", ["3.10", "3.11", "3.12"]),                     # no lower bound: from the oldest classifier
    (None, ["3.9", "3.13"]),                                  # no requires-python: TT005, not TT235
    (">=3.9", []),                                            # no 3.X classifier at all: matrix from requires
])
def test_consistent_or_undecidable_matrices_do_not_fire(make_course, requires, versions):
    root = make_course(SOURCE, pyproject=pyproject(requires, versions))
    assert matrix_findings(root) == []


def test_the_newest_released_python_bounds_the_fallback_matrix_and_the_due_classifiers(make_course, tmp_path):
    assert newest_released(BEFORE_314) == (3, 13) and newest_released(TODAY) == (3, 15)
    root = make_course(SOURCE, pyproject=pyproject(">=3.11", [], bare=False))
    assert matrix_plan(load_course(root), on=BEFORE_314).versions == ["3.11", "3.12", "3.13"]
    assert matrix_plan(load_course(root), on=TODAY).versions == ["3.11", "3.12", "3.13", "3.14", "3.15"]
    # a classifier list that was complete before 3.14 came out is not complete once it is out
    listed = write_course(tmp_path / "listed", SOURCE, pyproject=pyproject(">=3.11", ["3.11", "3.12", "3.13"]))
    assert matrix_plan(load_course(listed), on=BEFORE_314).dropped == []
    assert [d.version for d in matrix_plan(load_course(listed), on=TODAY).dropped] == ["3.14", "3.15"]


def test_embedded_course_has_no_matrix_finding_and_runs_3_9_to_3_15():
    assert matrix_findings(REPO / "course") == []
    assert python_matrix(load_course(REPO / "course")) == ALL_FROM_39


# ------------------------------------------------------------------ TT236: a Python past its end of life


def test_end_of_life_pythons_in_the_matrix_give_one_advisory_at_the_newest_ones_classifier(make_course, result):
    root = make_course(SOURCE, pyproject=pyproject(">=3.8", ["3.8", "3.9", "3.10", "3.11"] + ALL_FROM_39[3:]))
    (finding,) = matrix_findings(root, "TT236")
    assert finding.severity == "warning" and finding.pythons == ("3.8", "3.9", "3.10")
    assert finding.path == "pyproject.toml" and finding.line == 10   # the 3.10 classifier's line
    assert 'requires-python to ">=3.11" (pyproject.toml:4)' in finding.fix
    r = result()
    r.findings = [finding]
    assert decide(r).blockers == []   # advisory: never blocks the release


def test_end_of_life_advisory_follows_the_date(make_course):
    from verifier.checks._matrix import check_end_of_life
    from verifier.checks.context import Emitter
    plan = matrix_plan(load_course(make_course(SOURCE, pyproject=pyproject(">=3.9", ALL_FROM_39))), on=TODAY)
    for day, expected in ((dt.date(2025, 10, 31), []), (dt.date(2025, 11, 1), [("3.9",)]),
                          (TODAY, [("3.9", "3.10")])):
        out = Emitter(frozenset({"TT236"}))
        check_end_of_life(plan, out, on=day)
        assert [f.pythons for f in out] == expected, day


def test_supported_pythons_only_give_no_advisory(make_course):
    root = make_course(SOURCE, pyproject=pyproject(">=3.11", ALL_FROM_39[2:]))
    assert matrix_findings(root, "TT236") == []


def test_embedded_course_gets_the_advisory_for_3_9_and_3_10():
    (finding,) = matrix_findings(REPO / "course", "TT236")
    assert finding.pythons == ("3.9", "3.10") and finding.line == line_of_classifier(REPO / "course", "3.10")


def line_of_classifier(course, version):
    lines = (course / "pyproject.toml").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if f'Python :: {version}"' in line)


# ------------------------------------------------------------------ the three upstream snapshots, today


# At 2026-12-06 (3.15 out since 2026-10-09): requires-python >=3.8 with classifiers up to 3.11 (two
# snapshots: 3.12 to 3.15 are truly dropped) or up to 3.13 (52e1cf6f: 3.14 and 3.15 dropped: pip installs
# the package there, the classifiers do not say so). All three still list 3.8-3.10: past end of life.
@pytest.mark.parametrize("commit, dropped", [("4246c759", ("3.12", "3.13") + AFTER_313),
                                             ("ce776937", ("3.12", "3.13") + AFTER_313),
                                             ("52e1cf6f", AFTER_313 or None)])
def test_real_upstream_trees(tmp_path, make_course, corpus_trees, commit, dropped):
    tree = corpus_trees[commit]
    # the pyproject.toml alone, in a one-module course (52e1cf6f's src/ layout is not loadable as a course)
    root = make_course(SOURCE, pyproject=(tree / "pyproject.toml").read_text(encoding="utf-8"))
    found = matrix_findings(root)
    if dropped is None:
        assert found == []
    else:
        (finding,) = found
        assert finding.pythons == dropped and finding.line == 10
    if commit != "52e1cf6f":  # the whole tree, as `tinytorch-verifier package validate --course` reads it: one finding
        copy = tmp_path / "tree"
        shutil.copytree(tree, copy)
        assert [f.pythons for f in matrix_findings(copy)] == [dropped]
    (advisory,) = matrix_findings(root, "TT236")  # 3.8 (2024-10), 3.9 (2025-10), 3.10 (2026-10) have ended
    assert advisory.pythons == ("3.8", "3.9", "3.10") and advisory.severity == "warning"


def test_gate_blocks_a_dropped_python_by_code_naming_it(result):
    r = result()
    from verifier.findingmodel import Finding
    r.findings = [Finding("TT235", "course", "pyproject.toml", 13, "the classifier ... is excluded", "x",
                          pythons=("3.13",))]
    (blocker,) = decide(r).blockers
    assert blocker.category == "Python dropped from the matrix" and blocker.python == "3.13"
    assert "pyproject.toml:13" in blocker.describe()
    r.findings[0].waived = "fixture: oldest and newest only"
    assert decide(r).blockers == []
