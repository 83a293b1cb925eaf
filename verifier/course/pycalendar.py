"""Python's release calendar as data: when each CPython feature release came out, when it reaches its
end of life, and its support status on a given date (prerelease, bugfix, security, end of life).

The matrix check (TT235) uses it to know the newest *released* Python at today's date (a course whose
requires-python allows it must list its classifier); TT236 warns when the matrix holds a Python past
its end of life; `tinytorch-verifier python list` shows each Python's status.

To update: add one row per new feature release (PEP 602: one each October, five years of support).
Sources: the devguide's "Status of Python versions" table and the release-schedule PEPs (3.15: PEP 790,
whose planned 2026-10-01 final moved to 2026-10-09 after a third release candidate).
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import List, Optional, Tuple

Version = Tuple[int, int]

PRERELEASE = "prerelease"
BUGFIX = "bugfix"
SECURITY = "security"
END_OF_LIFE = "end of life"
UNKNOWN = "unknown"   # a version this calendar has no row for


def _end_of_month(year: int, month: int) -> dt.date:
    # the devguide gives end-of-life as a month; support lasts until that month is over
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class PythonRelease:
    version: Version
    first_release: dt.date       # X.Y.0 final
    end_of_life: dt.date         # last day of security support
    bugfix_months: int = 24      # full (bugfix) support after X.Y.0; then security fixes only

    @property
    def name(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def bugfix_until(self) -> dt.date:
        return _add_months(self.first_release, self.bugfix_months)

    def status(self, on: Optional[dt.date] = None) -> str:
        day = on or dt.date.today()
        if day < self.first_release:
            return PRERELEASE
        if day < self.bugfix_until:
            return BUGFIX
        if day <= self.end_of_life:
            return SECURITY
        return END_OF_LIFE


def _row(minor: int, released: Tuple[int, int, int], eol: Tuple[int, int], bugfix_months: int = 24) -> PythonRelease:
    return PythonRelease((3, minor), dt.date(*released), _end_of_month(*eol), bugfix_months)


# Sorted, one row per feature release from 3.8 on (tests check both). PEP 602 gave 18 months of bugfix
# releases up to 3.12; an amendment (2024) made it 24 from 3.13 on.
CALENDAR: Tuple[PythonRelease, ...] = (
    _row(8, (2019, 10, 14), (2024, 10), 18),
    _row(9, (2020, 10, 5), (2025, 10), 18),
    _row(10, (2021, 10, 4), (2026, 10), 18),
    _row(11, (2022, 10, 24), (2027, 10), 18),
    _row(12, (2023, 10, 2), (2028, 10), 18),
    _row(13, (2024, 10, 7), (2029, 10)),
    _row(14, (2025, 10, 7), (2030, 10)),
    _row(15, (2026, 10, 9), (2031, 10)),
)
OLDEST_LISTED: Version = CALENDAR[0].version


def parse(version: str) -> Version:
    """"3.14" (or "3.14t", a free-threaded build of the same release) -> (3, 14)."""
    major, minor = version.rstrip("t").split(".")[:2]
    return int(major), int(minor)


def release(version: Version) -> Optional[PythonRelease]:
    for row in CALENDAR:
        if row.version == version:
            return row
    return None


def status(version: Version, on: Optional[dt.date] = None) -> str:
    row = release(version)
    return row.status(on) if row else UNKNOWN


def released(on: Optional[dt.date] = None) -> List[Version]:
    """The feature releases out by that date (default today), oldest first."""
    day = on or dt.date.today()
    return [row.version for row in CALENDAR if row.first_release <= day]


def newest_released(on: Optional[dt.date] = None) -> Version:
    """The newest Python released by that date: TT235 expects its classifier from every course whose
    requires-python allows it. Before the calendar's first row (never in practice): its first row."""
    out = released(on)
    return out[-1] if out else OLDEST_LISTED
