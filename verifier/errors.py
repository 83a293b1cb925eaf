"""The verifier's one exception hierarchy.

Every error a user can cause (bad course path, broken TOML, unreadable source...) is a
VerifierError carrying *where* (file and line) and *what to do*; the CLI prints it as one
line and exits 2. Anything else reaching the CLI is a bug in the verifier itself.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional


class VerifierError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""

    exit_code = 2

    def __init__(self, message: str, path: Optional[Path] = None, line: Optional[int] = None,
                 hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.hint = hint

    @property
    def location(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        hint = f" — {self.hint}" if self.hint else ""
        return f"{where}{self.message}{hint}"


class CourseError(VerifierError):
    """The course tree or its configuration cannot be used."""


class SourceError(VerifierError):
    """A module source file cannot be read as percent-format Python or as a notebook."""


class ExportError(VerifierError):
    """The module sources cannot be exported into one package."""


class BuildError(VerifierError):
    """Building the sdist or the wheel failed; the message holds the backend's last meaningful line,
    `output` the end of the build's output (for the report's log)."""

    output: str = ""


class InterpreterError(VerifierError):
    """A Python of the matrix cannot be found or does not run."""


class EnvironmentSetupError(VerifierError):
    """A fresh virtual environment could not be created or provisioned."""


class BaselineError(VerifierError):
    """`--baseline REF` names no usable earlier release (unknown git ref, missing wheel, ...)."""
