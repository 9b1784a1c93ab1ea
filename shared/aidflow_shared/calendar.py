"""Working days in China, and deadlines counted in them.

Chinese working days follow the State Council's yearly holiday notice: statutory holidays, plus
weekend make-up workdays (调休) that pay for the long breaks. The ``holidays`` library carries
every notice from 2001 on; a local override file (JSON, ``AIDFLOW_CALENDAR_OVERRIDES``) adds a
newly announced year before the library ships it, and local adjustments. A year without a known
notice is estimated (weekends and the statutory days, no make-up days) and every deadline that
counts a day of it is marked provisional.

"Within N working days" (DOMAIN.md): the day of acceptance is not counted; the deadline is the end
of the Nth working day after it, Beijing time. The calendar is precomputed once into a prefix
count of working days over every day it covers, so a deadline is a few list look-ups and never
walks the days: every open deadline can be recomputed whenever the calendar's ``fingerprint``
changes.

This module is pure: no database, no broker, no clock.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, NamedTuple
from zoneinfo import ZoneInfo

import holidays

BEIJING = ZoneInfo("Asia/Shanghai")


def beijing_today() -> date:
    """Today's date in Beijing: the day a date given by people here (a birth, a receipt) is
    checked against, whatever the server's own time zone."""
    return datetime.now(BEIJING).date()
OVERRIDES_ENV = "AIDFLOW_CALENDAR_OVERRIDES"
# The library checks China against the State Council notices from 2001; it computes China up to
# 2100. The span is fixed, not derived from today, so the fingerprint does not drift with the clock.
FIRST_YEAR = 2001
LAST_YEAR = 2100


class CalendarError(ValueError):
    """An override file that cannot be trusted, or a date the calendar does not cover."""


class Deadline(NamedTuple):
    """When "within N working days" runs out.

    ``due_at`` is the first instant after the last working day (midnight Beijing time, in UTC):
    work done before it is in time. ``calendar`` is the fingerprint of the calendar that computed
    the deadline, so a stored deadline can be recomputed when the calendar changes.
    """

    due_at: datetime
    due_date: date
    provisional: bool
    calendar: str


@dataclass(frozen=True)
class Overrides:
    """The override file: whole years announced after the library's release, and local changes.

    A listed holiday is a day off and a listed workday a working day, whatever the library says.
    For a year in ``official_years`` that the library only estimates, the file replaces the
    estimate: that year's days off are exactly its weekends and the listed holidays, its make-up
    days exactly the listed workdays. For any other year the entries adjust the library's days.
    """

    official_years: frozenset[int] = frozenset()
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    @classmethod
    def parse(cls, data: Mapping[str, Any], origin: str = "calendar overrides") -> "Overrides":
        if not isinstance(data, Mapping):
            raise CalendarError(f"{origin}: expected a JSON object")
        unknown = set(data) - {"source", "official_years", "holidays", "workdays"}
        if unknown:
            raise CalendarError(f"{origin}: unknown keys {sorted(unknown)}")
        years = data.get("official_years", [])
        if not isinstance(years, list) or not all(type(year) is int for year in years):
            raise CalendarError(f"{origin}: official_years must be a list of years")
        for year in years:
            if not FIRST_YEAR <= year <= LAST_YEAR:
                raise CalendarError(f"{origin}: official year {year} outside {FIRST_YEAR}-{LAST_YEAR}")
        days_off = _named_dates(data.get("holidays", {}), f"{origin}: holidays")
        workdays = _named_dates(data.get("workdays", {}), f"{origin}: workdays")
        both = days_off & workdays
        if both:
            raise CalendarError(f"{origin}: both holiday and workday: {sorted(d.isoformat() for d in both)}")
        return cls(frozenset(years), days_off, workdays)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "Overrides":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CalendarError(f"calendar overrides {path}: {exc}") from exc
        return cls.parse(data, f"calendar overrides {path}")


class WorkingCalendar:
    """China's working days from FIRST_YEAR to LAST_YEAR, with deadlines counted in them.

    Days are held by index from 1 January FIRST_YEAR; every per-day fact is precomputed in a list
    so that a deadline is a handful of look-ups.
    """

    def __init__(self, overrides: Overrides = Overrides()):
        days_off, make_up_days, library_years = _library_schedule()
        days, self._ends = _days()
        self._days = days
        self._first = days[0].toordinal()
        self._official = library_years | overrides.official_years
        replaced = overrides.official_years - library_years

        working = bytearray(len(days))
        for index, day in enumerate(days):
            if day in overrides.workdays:
                working[index] = True
            elif day in overrides.holidays:
                working[index] = False
            elif day.year in replaced:
                working[index] = day.weekday() < 5
            elif day.weekday() >= 5:
                working[index] = day in make_up_days
            else:
                working[index] = day not in days_off
        self._working = bytes(working)

        # _worked_through[i]: working days among days 0..i.  _workdays[k]: index of working day k+1.
        self._worked_through: list[int] = []
        self._workdays: list[int] = []
        for index, works in enumerate(self._working):
            if works:
                self._workdays.append(index)
            self._worked_through.append(len(self._workdays))

        # _estimated_from[i]: the first day at or after day i in a year with no known notice.
        self._estimated_from = [len(days)] * len(days)
        estimated = len(days)
        for index in range(len(days) - 1, -1, -1):
            if days[index].year not in self._official:
                estimated = index
            self._estimated_from[index] = estimated

        digest = hashlib.sha256(self._working)
        digest.update(",".join(map(str, sorted(self._official))).encode())
        self.fingerprint: str = digest.hexdigest()[:16]
        """Changes exactly when a working day or an official year changes."""

    @classmethod
    def load(cls, overrides_path: str | os.PathLike | None = None) -> "WorkingCalendar":
        """The library's calendar, with the override file at ``overrides_path`` if given."""
        return cls(Overrides.read(overrides_path) if overrides_path else Overrides())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "WorkingCalendar":
        """The calendar with the override file named by ``AIDFLOW_CALENDAR_OVERRIDES``, if set."""
        environ = os.environ if environ is None else environ
        return cls.load(environ.get(OVERRIDES_ENV) or None)

    def official_years(self) -> tuple[int, ...]:
        """Years whose State Council notice the calendar knows; other years are estimates."""
        return tuple(sorted(self._official))

    def is_workday(self, day: date) -> bool:
        return bool(self._working[self._index(day)])

    def workday_after(self, day: date, n: int) -> date:
        """The Nth working day after ``day`` (``day`` itself not counted)."""
        return self._days[self._nth_workday_after(self._index(day), n)]

    def deadline(self, accepted_at: datetime, n: int) -> Deadline:
        """The end of the Nth working day after the day of ``accepted_at``, Beijing time.

        ``n`` must be at least 1: "within 0 working days" names no day to count, and a profile
        that says 0 is a mistake better refused than turned into an instant breach.
        Provisional when any day after acceptance up to the due date lies in an estimated year.
        """
        accepted = self._moment_index(accepted_at)
        due = self._nth_workday_after(accepted, n)
        return Deadline(self._ends[due], self._days[due], self._estimated_from[accepted + 1] <= due, self.fingerprint)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days used from ``start`` to ``end``, counted as deadlines are.

        The day of ``start`` is not counted and the day of ``end`` is (when it is a working day):
        anything done before ``deadline(start, n).due_at`` has used at most ``n``.
        """
        first = self._moment_index(start)
        last = self._moment_index(end)
        if last < first:
            raise ValueError("end is before start")
        return self._worked_through[last] - self._worked_through[first]

    def _index(self, day: date) -> int:
        if isinstance(day, datetime):
            # A datetime's own date need not be its Beijing date; make the caller say which day.
            raise TypeError("pass a date; for a moment in time, pass its Beijing date")
        return self._checked(day.toordinal())

    def _moment_index(self, moment: datetime) -> int:
        if moment.utcoffset() is None:
            raise ValueError("a naive datetime has no Beijing date; pass an aware one")
        return self._checked(moment.astimezone(BEIJING).toordinal())

    def _checked(self, ordinal: int) -> int:
        index = ordinal - self._first
        if not 0 <= index < len(self._days):
            raise CalendarError(f"{date.fromordinal(ordinal)} is outside the calendar ({FIRST_YEAR}-{LAST_YEAR})")
        return index

    def _nth_workday_after(self, index: int, n: int) -> int:
        if n < 1:
            raise ValueError(f"a deadline needs at least 1 working day, got {n}")
        position = self._worked_through[index] + n - 1
        if position >= len(self._workdays):
            raise CalendarError(f"{n} working days after {self._days[index]} is outside the calendar "
                                f"({FIRST_YEAR}-{LAST_YEAR})")
        return self._workdays[position]


@lru_cache(maxsize=1)
def _days() -> tuple[list[date], list[datetime]]:
    """Every day of the span, and the instant (UTC) each ends in Beijing; shared by all calendars."""
    first, last = date(FIRST_YEAR, 1, 1).toordinal(), date(LAST_YEAR, 12, 31).toordinal()
    days = [date.fromordinal(ordinal) for ordinal in range(first, last + 1)]
    ends = [datetime.combine(day + timedelta(days=1), time(), BEIJING).astimezone(timezone.utc) for day in days]
    return days, ends


@lru_cache(maxsize=1)
def _library_schedule() -> tuple[frozenset[date], frozenset[date], frozenset[int]]:
    """The library's days off, make-up workdays, and the years it has a State Council notice for.

    The library records each notice as day-off-for-workday substitutions by year; a year with
    them is an announced year, a year without them is the library's rule-based estimate.
    """
    china = holidays.China(years=range(FIRST_YEAR, LAST_YEAR + 1))
    announced = frozenset(year for year in china.special_public_holidays if FIRST_YEAR <= year <= LAST_YEAR)
    return frozenset(china), frozenset(china.weekend_workdays), announced


def _named_dates(entries: Any, what: str) -> frozenset[date]:
    if not isinstance(entries, Mapping):
        raise CalendarError(f"{what} must map ISO dates to names")
    days = set()
    for key, name in entries.items():
        try:
            day = date.fromisoformat(key)
        except (TypeError, ValueError):
            raise CalendarError(f"{what}: {key!r} is not an ISO date (YYYY-MM-DD)") from None
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise CalendarError(f"{what}: {key} outside {FIRST_YEAR}-{LAST_YEAR}")
        if not isinstance(name, str):
            raise CalendarError(f"{what}: {key} needs a name (a string)")
        days.add(day)
    return frozenset(days)
