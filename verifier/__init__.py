"""tinytorch-verifier: the release guardian of the TinyTorch course.

The library is laid out by concern, one folder each (imports point one way, top to bottom):

    cli/        `tinytorch-verifier` (also `python -m verifier`): argument parsing, one library call per command
    pipeline/   one verify run: stages, result model, release gate, progress
    render/     rendering a result (terminal, status, Markdown, JUnit, HTML, JSON)
    checks/     static validation: findings with stable codes
    package/    export, build, wheel checks, API snapshot, locks
    runner/     the only place that starts processes: sandbox, interpreters, venvs, scenarios
    deps/       the module dependency graph
    course/     what a course is, read as text
    errors.py   the one exception hierarchy
    results.py, findingmodel.py   the verify result and the findings (typed), spoken by every layer above

The public API is what `__all__` names below; everything else is private to its package.
"""
from typing import TYPE_CHECKING, Any

from .errors import (
    BuildError,
    CourseError,
    EnvironmentSetupError,
    ExportError,
    InterpreterError,
    SourceError,
    VerifierError,
)

if TYPE_CHECKING:
    from .checks.validate import ValidationReport, validate
    from .course.discovery import Course, load_course
    from .pipeline.gate import Decision, decide
    from .pipeline.verify import VerifyOptions, verify
    from .results import VerifyResult

# The rest of the public API is imported when first used (PEP 562): `import verifier.cli` must not load
# the verify pipeline, the checks and their libraries — `tinytorch-verifier package validate` run by a pre-commit hook
# or an editor pays only for what validation needs (tests/unit/test_import_graph.py holds it to that).
_LAZY = {
    "ValidationReport": "checks.validate", "validate": "checks.validate",
    "Course": "course.discovery", "load_course": "course.discovery",
    "Decision": "pipeline.gate", "decide": "pipeline.gate",
    "VerifyOptions": "pipeline.verify", "verify": "pipeline.verify",
    "VerifyResult": "results",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "BuildError", "Course", "CourseError", "Decision", "EnvironmentSetupError", "ExportError",
    "InterpreterError", "SourceError", "ValidationReport", "VerifierError", "VerifyOptions",
    "VerifyResult", "decide", "load_course", "validate", "verify",
]
