"""The Python matrix (TT235, TT236): the `Programming Language :: Python :: 3.X` classifiers and
requires-python must name the same Pythons, or verify would drop one from the matrix without saying so
(TT235, an error); and a matrix that still holds a Python past its end of life gets an advisory (TT236).

Two directions, both naming the two lines of pyproject.toml (file:line):
- a classifier requires-python excludes (`3.13` with `<3.13`): one finding per classifier, at its line;
- released Pythons requires-python allows, from its lower bound up to the newest one released at
  today's date (`course.pycalendar`), with no classifier: one finding for all of them, at the
  requires-python line.
TT236 (warning, never blocks): the Pythons of the matrix past their end of life at today's date (the
calendar's), one finding for all of them, at the classifier line of the newest of them.
A course with no `3.X` classifier at all takes its matrix from requires-python (nothing is dropped, no
finding); a course with no requires-python gets TT005 instead.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterator, Optional

from ..course import pycalendar
from ..course.matrix import EXCLUDED, UNLISTED, MatrixPlan, matrix_plan, version_key
from ..errors import CourseError
from .context import CheckContext, Emitter
from .findings import COURSE, Finding

CODES = frozenset({"TT235", "TT236"})


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


def check_end_of_life(plan: MatrixPlan, out: Emitter, on: Optional[dt.date] = None) -> None:
    """TT236: the matrix still runs (and the classifiers still promise) Pythons past their end of life."""
    past = [v for v in plan.versions if pycalendar.status(pycalendar.parse(v), on) == pycalendar.END_OF_LIFE]
    if not past:
        return
    newest = max(past, key=version_key)
    ended = pycalendar.release(pycalendar.parse(newest))
    names = ", ".join(past)
    line = plan.classifier_lines.get(newest) or plan.requires_at[1]
    path = plan.path if plan.classifier_lines.get(newest) else plan.requires_at[0]
    raise_to = f"{newest.split('.')[0]}.{version_key(newest)[1] + 1}"
    out.add("TT236", COURSE, path, line,
            f"the matrix includes Python {names}, past {'its' if len(past) == 1 else 'their'} end of life "
            f"({newest}: {ended.end_of_life.isoformat() if ended else 'ended'}): no security fixes any more, "
            f"students should not be pointed at {'it' if len(past) == 1 else 'them'}",
            f'raise requires-python to ">={raise_to}" ({plan.where_requires()}) and remove the '
            f"{'classifier' if len(past) == 1 else 'classifiers'} of {names} ({plan.where_classifier(newest)}), "
            f"or keep {'it' if len(past) == 1 else 'them'} knowingly: waive TT236 with a reason",
            pythons=tuple(past))


def check(ctx: CheckContext) -> Iterator[Finding]:
    out = Emitter(CODES)
    try:
        plan = matrix_plan(ctx.course)
    except CourseError:
        plan = None  # an invalid requires-python is a configuration error, reported where it is read
    if plan is not None:
        check_matrix(plan, out)
        check_end_of_life(plan, out)
    yield from out
