"""Reading verify.json files handed to tinytorch-verifier (`package status`, `report`, `aggregate`, `compare`):
each is checked against the report's schema before anything renders it, so a truncated download or
a hand-edited file is one line naming the file and what is wrong (exit 2), never a crash. Two
reports are put side by side only when they are of one course and one wheel, and a matrix holds one
report per (Python, platform, locked/latest).
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..course.config import load_json
from ..errors import VerifierError
from ..findingmodel import CATALOGUE, Finding
from ..results import (
    FAILED,
    IMPORT_FAILURES,
    NOT_RUN,
    NOT_VERIFIED,
    PASSED,
    Attribution,
    ImportFailure,
    PythonResult,
    StageResult,
    VerifyResult,
    result_from_json,
)

REPORT_LIMIT = 64 * 1024 * 1024  # a verify.json is tens of kB; a larger file is not one
STATUSES = (PASSED, FAILED, NOT_RUN, NOT_VERIFIED)
RERUN = "rerun the verify that wrote it, or re-download that job's reports"


class ReportFileError(VerifierError):
    """A verify.json that cannot be used: unreadable, not a verify report, or not of this run."""


@dataclass
class ReportFile:
    """One verify report as read from disk, with what says which run it belongs to."""
    path: Path
    result: VerifyResult

    @property
    def course(self) -> str:
        name = self.result.course_name or "course"
        return f"{name} {self.result.course_version}"


# the renderers index into these free-form entries: their keys must be there, with these types
_ARTIFACT_KEYS = {"file": str, "bytes": int, "sha256": str}
_METRIC_NUMBERS = ("lines", "complexity")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _type_problem(value: Any, hint: Any, where: str) -> Optional[str]:
    """The first place `value` (parsed JSON) does not fit the annotation `hint`, or None."""
    if hint is Any:
        return None
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        problems = [_type_problem(value, option, where) for option in options if option is not type(None)]
        return None if any(p is None for p in problems) else problems[0]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _object_problem(value, hint, where)
    if isinstance(hint, type) and issubclass(hint, Enum):   # stored by its value (a finding's `when`)
        values = [member.value for member in hint]
        return None if value in values else f"{where}: {value!r} is not one of {', '.join(map(str, values))}"
    if origin in (list, tuple):   # JSON has lists only: a tuple field (Tuple[X, ...]) is stored as one
        if not isinstance(value, list):
            return f"{where}: expected a list, found {_kind(value)}"
        (item, *_) = typing.get_args(hint) or (Any,)
        for index, element in enumerate(value):
            problem = _type_problem(element, item, f"{where}[{index}]")
            if problem:
                return problem
        return None
    if origin is dict:
        if not isinstance(value, dict):
            return f"{where}: expected an object, found {_kind(value)}"
        _, item = typing.get_args(hint) or (str, Any)
        for key, element in value.items():
            problem = _type_problem(element, item, f"{where}.{key}")
            if problem:
                return problem
        return None
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    return None if ok else f"{where}: expected {_kind(hint())}, found {_kind(value)}"


def _object_problem(value: Any, cls: type, where: str) -> Optional[str]:
    """`value` must be an object whose known keys fit the dataclass `cls` (unknown keys are newer
    fields and are ignored); a field without a default must be present."""
    if not isinstance(value, dict):
        return f"{where or 'the report'}: expected an object, found {_kind(value)}"
    hints = typing.get_type_hints(cls)
    prefix = f"{where}." if where else ""
    for spec in dataclasses.fields(cls):
        if spec.name not in value:
            required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
            if required:
                return f"{prefix}{spec.name}: missing"
            continue
        problem = _type_problem(value[spec.name], hints[spec.name], f"{prefix}{spec.name}")
        if problem:
            return problem
    if cls is Finding and value["code"] not in CATALOGUE:
        return f"{prefix}code: {value['code']!r} is not a finding code this verifier knows (a newer verifier's?)"
    if cls is StageResult and value.get("status") not in STATUSES:
        return f"{prefix}status: {value.get('status')!r} is not one of {', '.join(STATUSES)}"
    if cls is StageResult:
        return _figures_problem(value.get("figures", {}), f"{prefix}figures")
    if cls is Attribution:
        unknown = set(value) - {f.name for f in dataclasses.fields(Attribution)}
        return f"{prefix}{sorted(unknown)[0]}: not a field of an attribution" if unknown else None
    return None


def _figures_problem(figures: Dict[str, Any], where: str) -> Optional[str]:
    if IMPORT_FAILURES in figures:   # read back as ImportFailure records: each must fit one
        problem = _type_problem(figures[IMPORT_FAILURES], List[ImportFailure], f"{where}.{IMPORT_FAILURES}")
        if problem:
            return problem
    if "modules" in figures and (not isinstance(figures["modules"], int) or isinstance(figures["modules"], bool)):
        return f"{where}.modules: expected a number, found {_kind(figures['modules'])}"
    for key in ("added", "breaking"):
        if key in figures and not (isinstance(figures[key], list) and all(isinstance(x, str) for x in figures[key])):
            return f"{where}.{key}: expected a list of text"
    return None


def shape_problem(data: Any) -> Optional[str]:
    """Where parsed JSON is not a verify report (a dotted path and what is wrong), or None."""
    problem = _object_problem(data, VerifyResult, "")
    if problem:
        return problem
    for index, artifact in enumerate(data.get("artifacts", [])):
        for key, kind in _ARTIFACT_KEYS.items():
            if not isinstance(artifact.get(key), kind) or isinstance(artifact.get(key), bool):
                return f"artifacts[{index}].{key}: expected {_kind(kind())}, found {_kind(artifact.get(key))}"
    for index, metrics in enumerate(data.get("code_metrics", [])):
        if "module" not in metrics:
            return f"code_metrics[{index}].module: missing"
        for key in _METRIC_NUMBERS:
            number = metrics.get(key, 0)
            if not isinstance(number, (int, float)) or isinstance(number, bool) or not math.isfinite(number):
                return f"code_metrics[{index}].{key}: expected a number, found {_kind(number)}"
    versions = [python["version"] for python in data.get("pythons", [])]
    twice = sorted({v for v in versions if versions.count(v) > 1})
    if twice:
        return f"pythons: Python {twice[0]} is listed twice"
    return None


def read_report(path: Path) -> ReportFile:
    """One verify.json, checked: a ReportFileError naming the file (and line) when it is not one."""
    if not path.is_file():
        raise ReportFileError("no verify result found", path, hint="run `tinytorch-verifier package verify` first")
    try:
        if path.stat().st_size > REPORT_LIMIT:
            raise ReportFileError(f"larger than {REPORT_LIMIT // (1024 * 1024)} MB: not a verify report", path,
                                  hint=RERUN)
        raw = path.read_bytes()
    except OSError as error:
        raise ReportFileError(f"cannot be read ({error.strerror or error})", path, hint=RERUN) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise ReportFileError("not valid UTF-8: not a verify report", path, line, hint=RERUN) from None
    if not text.strip():
        raise ReportFileError("empty: not a verify report", path, hint=RERUN)
    try:
        data = load_json(text, path, "verify report JSON")
    except VerifierError as error:  # truncated or garbled: the message has the line and column
        last_line = text.rstrip().count("\n") + 1
        ends_early = error.line is not None and error.line >= last_line and \
            any(word in error.message for word in ("Expecting", "Unterminated"))
        message = "truncated: the JSON ends before the report does" if ends_early else error.message
        raise ReportFileError(message, path, error.line, hint=RERUN) from None
    problem = shape_problem(data)
    if problem:
        raise ReportFileError(f"not a verify report: {problem}", path, hint=RERUN)
    try:
        return ReportFile(path, result_from_json(data))
    except (TypeError, ValueError, AttributeError, KeyError) as error:  # the shape check is meant to prevent it
        raise ReportFileError(f"not a verify report: {error}", path, hint=RERUN) from None


def run_key(report: ReportFile, python: PythonResult, label: str) -> Tuple[str, str, bool]:
    """What a matrix has one report of: Python, platform (the job folder for reports written before
    the platform was recorded), locked or latest."""
    return (python.version, report.result.platform or label, report.result.latest)


def check_same_release(reports: List[ReportFile]) -> None:
    """Reports put side by side must be of one course (name and version) and one wheel (its
    content digest, when both recorded it): else a ReportFileError naming both files."""
    first = reports[0]
    for other in reports[1:]:
        a, b = first.result, other.result
        same_name = not a.course_name or not b.course_name or a.course_name == b.course_name
        if not same_name or a.course_version != b.course_version:
            raise ReportFileError(f"reports of two different courses: {first.path} is {first.course}, "
                                  f"{other.path} is {other.course}",
                                  hint="put only the reports of one release candidate together")
        if a.wheel_content_sha256 and b.wheel_content_sha256 and a.wheel_content_sha256 != b.wheel_content_sha256:
            raise ReportFileError(f"reports of two different wheels: {first.path} (sha256 "
                                  f"{a.wheel_content_sha256[:12]}…) and {other.path} (sha256 "
                                  f"{b.wheel_content_sha256[:12]}…)",
                                  hint="rerun the jobs on one commit, or put only one candidate's reports together")
