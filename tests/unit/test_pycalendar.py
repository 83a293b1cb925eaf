"""Python's release calendar (verifier/course/pycalendar.py): sorted, complete from 3.8 on, one feature
release a year, five years of support, and the support status it computes for a date."""
from __future__ import annotations

import datetime as dt

import pytest

from verifier.course import pycalendar
from verifier.course.pycalendar import (
    BUGFIX,
    CALENDAR,
    END_OF_LIFE,
    PRERELEASE,
    SECURITY,
    UNKNOWN,
    newest_released,
    parse,
    released,
    status,
)


def test_calendar_is_sorted_and_complete_from_3_8_on():
    versions = [row.version for row in CALENDAR]
    assert versions[0] == (3, 8)
    assert versions == [(3, m) for m in range(8, 8 + len(versions))]   # sorted, no gap, no duplicate
    firsts = [row.first_release for row in CALENDAR]
    assert firsts == sorted(firsts) and len(set(firsts)) == len(firsts)
    for row in CALENDAR:  # PEP 602: an October release, about five years of support, end of life after bugfix
        assert row.first_release.month == 10 and row.end_of_life.month == 10
        assert row.end_of_life.year == row.first_release.year + 5
        assert row.first_release < row.bugfix_until < row.end_of_life


def test_calendar_reaches_the_newest_release_it_knows_of():
    # 3.15.0 final came out 2026-10-09 (PEP 790 planned 2026-10-01; a third release candidate moved it)
    assert pycalendar.release((3, 15)).first_release == dt.date(2026, 10, 9)
    assert CALENDAR[-1].version >= (3, 15)


@pytest.mark.parametrize("version, day, expected", [
    ((3, 9), dt.date(2026, 12, 6), END_OF_LIFE),
    ((3, 10), dt.date(2026, 10, 31), SECURITY),        # the end-of-life month is still supported
    ((3, 10), dt.date(2026, 11, 1), END_OF_LIFE),
    ((3, 12), dt.date(2026, 12, 6), SECURITY),
    ((3, 13), dt.date(2026, 10, 6), BUGFIX),           # two years of bugfix releases from 3.13 on
    ((3, 13), dt.date(2026, 10, 7), SECURITY),
    ((3, 14), dt.date(2026, 12, 6), BUGFIX),
    ((3, 15), dt.date(2026, 10, 8), PRERELEASE),
    ((3, 15), dt.date(2026, 12, 6), BUGFIX),
    ((3, 7), dt.date(2026, 12, 6), UNKNOWN),            # before the calendar's first row
    ((3, 99), dt.date(2026, 12, 6), UNKNOWN),
])
def test_status_on_a_date(version, day, expected):
    assert status(version, day) == expected


def test_released_and_newest_released_follow_the_date():
    assert released(dt.date(2025, 10, 6))[-1] == (3, 13)
    assert newest_released(dt.date(2025, 10, 7)) == (3, 14)
    assert newest_released(dt.date(2026, 12, 6)) == (3, 15)
    assert newest_released(dt.date(2000, 1, 1)) == (3, 8)   # never before the first row


def test_parse_understands_free_threaded_names():
    assert parse("3.14") == (3, 14) and parse("3.15t") == (3, 15)
