"""The Python matrix (TT235): the `Programming Language :: Python :: 3.X` classifiers and requires-python
must name the same Pythons, or verify would drop one from the matrix without saying so.

Two directions, both naming the two lines of pyproject.toml (file:line):
- a classifier requires-python excludes (`3.13` with `<3.13`): one finding per classifier, at its line;
- Pythons requires-python allows, from its lower bound up to the newest Python the verifier knows
  (`course.pyversions.NEWEST_KNOWN`), with no classifier: one finding for all of them, at the
  requires-python line.
A course with no `3.X` classifier at all takes its matrix from requires-python (nothing is dropped, no
finding); a course with no requires-python gets TT005 instead.
"""
from __future__ import annotations

from typing import Iterator

from ..course.matrix import EXCLUDED, UNLISTED, MatrixPlan, matrix_plan
from ..errors import CourseError
from .context import CheckContext, Emitter
from .findings import COURSE, Finding

CODES = frozenset({"TT235"})


def _classifier(version: str) -> str:
    return f"`Programming Language :: Python :: {version}`"


def check_matrix(plan: MatrixPlan, out: Emitter) -> None:
    requires = f'requires-python "{plan.requires_python}" ({plan.where_requires()})'
    for drop in plan.dropped:
        if drop.reason != EXCLUDED:
            continue
        line = plan.classifier_lines.get(drop.version) or plan.classifiers_line
        out.add("TT235", COURSE, plan.path, line,
                f"the classifier {_classifier(drop.version)} ({plan.where_classifier(drop.version)}) is excluded "
                f"by {requires}: verify drops Python {drop.version} from the matrix",
                f"allow Python {drop.version} in requires-python, or remove the classifier from "
                f"{plan.where_classifier(drop.version)}", pythons=(drop.version,))
    unlisted = [d.version for d in plan.dropped if d.reason == UNLISTED]
    if unlisted:
        path, line = plan.requires_at
        names = ", ".join(unlisted)
        out.add("TT235", COURSE, path, line,
                f"{requires} allows Python {names}, but the classifiers ({plan.where_classifier()}) do not list "
                f"{'it' if len(unlisted) == 1 else 'them'}: verify drops Python {names} from the matrix, "
                f"although pip installs the package there",
                f"add {', '.join(_classifier(v) for v in unlisted)} to the classifiers in "
                f"{plan.where_classifier()}, or bound requires-python so it excludes "
                f"{'it' if len(unlisted) == 1 else 'them'}", pythons=tuple(unlisted))


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    try:
        plan = matrix_plan(ctx.course)
    except CourseError:
        plan = None  # an invalid requires-python is a configuration error, reported where it is read
    if plan is not None:
        check_matrix(plan, out)
    yield from out
