"""tinytorch-verifier: the release guardian of the TinyTorch course.

The library is laid out by concern, one folder each (imports point one way, top to bottom):

    cli/        `tito`: argument parsing, exit codes, error text
    pipeline/   one verify run: stages, result model, release gate, progress
    render/     rendering a result (terminal, status, Markdown, JUnit, HTML, JSON)
    checks/     static validation: findings with stable codes
    package/    export, build, wheel checks, API snapshot, locks
    runner/     the only place that starts processes: sandbox, interpreters, venvs, scenarios
    deps/       the module dependency graph
    course/     what a course is, read as text
    errors.py   the one exception hierarchy

The public API is what `__all__` names below; everything else is private to its package.
"""
from .checks.validate import ValidationReport, validate
from .course.discovery import Course, load_course
from .errors import (
    BuildError,
    CourseError,
    EnvironmentSetupError,
    ExportError,
    InterpreterError,
    SourceError,
    VerifierError,
)
from .pipeline.gate import Decision, decide
from .pipeline.verify import VerifyOptions, verify
from .results import VerifyResult

__version__ = "0.1.0"

__all__ = [
    "BuildError", "Course", "CourseError", "Decision", "EnvironmentSetupError", "ExportError",
    "InterpreterError", "SourceError", "ValidationReport", "VerifierError", "VerifyOptions",
    "VerifyResult", "decide", "load_course", "validate", "verify",
]
