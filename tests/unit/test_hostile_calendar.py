"""Hostile input on the working-day calendar and the deadline clocks' pause arithmetic.

Moments anywhere in the calendar's span (2001-2100, so across every year boundary and into the
years without a State Council notice), any allowance, and calendars with arbitrary local
holidays and workdays:

- ``deadline(d, n)`` falls on a working day after the day of ``d``, and moves strictly later
  with ``n``;
- ``working_days_between(d, deadline(d, n))`` is ``n``, to the last instant before it is due;
- a deadline is provisional exactly when a counted day lies in an estimated year;
- pauses: the working days a clock was paused are added to its allowance, however the pauses
  fall, and stopping it just before its due instant is ``met``, at it ``missed``;
- nonsense (naive times, zero or negative allowances, dates outside the span) is refused with
  ``ValueError`` (``CalendarError`` is one), never anything else.

``AIDFLOW_HOSTILE_EXAMPLES`` raises the number of examples for a deep run.
"""
from __future__ import annotations

import os
import random
import tempfile
import uuid
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from prometheus_client import CollectorRegistry

from aidflow_shared.calendar import BEIJING, FIRST_YEAR, LAST_YEAR, Overrides, WorkingCalendar
from aidflow_shared.deadlines import DeadlineClocks
from aidflow_shared.policy import load_policy

EXAMPLES = int(os.environ.get("AIDFLOW_HOSTILE_EXAMPLES", "10")) * 5
hostile = settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
CALENDAR = WorkingCalendar()
# Leave room at the end of the span for the longest allowance drawn.
moments = st.datetimes(min_value=datetime(FIRST_YEAR, 1, 1), max_value=datetime(LAST_YEAR, 9, 30),
                       timezones=st.sampled_from([timezone.utc, BEIJING, timezone(timedelta(hours=-11))]))
year_ends = st.builds(lambda year, minutes: datetime(year, 12, 31, 12, tzinfo=BEIJING) + timedelta(minutes=minutes),
                      st.integers(FIRST_YEAR, LAST_YEAR - 1), st.integers(-3 * 24 * 60, 3 * 24 * 60))
starts = st.one_of(moments, year_ends)
allowances = st.integers(min_value=1, max_value=120)


def beijing_day(moment: datetime) -> date:
    return moment.astimezone(BEIJING).date()


def last_instant(due_at: datetime) -> datetime:
    return due_at - timedelta(microseconds=1)


@lru_cache(maxsize=None)
def local_calendar(seed: int) -> WorkingCalendar:
    """The library's calendar with a few local holidays and workdays anywhere in the span, many
    of them at year ends; a few such calendars are built once and drawn from."""
    chooser = random.Random(seed)
    ordinals = range(date(FIRST_YEAR, 1, 1).toordinal(), date(LAST_YEAR, 12, 31).toordinal() + 1)
    picked = {date.fromordinal(chooser.choice(ordinals)) for _ in range(40)}
    picked |= {date(chooser.randint(FIRST_YEAR, LAST_YEAR - 1), 12, 31) + timedelta(days=chooser.randint(-2, 3))
               for _ in range(40)}
    off = frozenset(day for day in picked if chooser.random() < 0.5)
    return WorkingCalendar(Overrides(holidays=off, workdays=frozenset(picked - off)))


calendars_used = st.one_of(st.just(CALENDAR), st.integers(0, 2).map(local_calendar))


@hostile
@given(calendar=calendars_used, start=starts, n=allowances)
def test_a_deadline_is_a_later_working_day(calendar, start, n):
    due = calendar.deadline(start, n)
    assert calendar.is_workday(due.due_date)
    assert due.due_date > beijing_day(start)
    assert due.due_at == datetime.combine(due.due_date + timedelta(days=1), time(), BEIJING)
    assert calendar.workday_after(beijing_day(start), n) == due.due_date


@hostile
@given(calendar=calendars_used, start=starts, n=allowances, more=st.integers(1, 30))
def test_deadlines_move_strictly_later_with_the_allowance(calendar, start, n, more):
    assert calendar.deadline(start, n).due_at < calendar.deadline(start, n + more).due_at


@hostile
@given(calendar=calendars_used, start=starts, n=allowances)
def test_the_days_between_a_start_and_its_deadline_are_the_allowance(calendar, start, n):
    due = calendar.deadline(start, n)
    assert calendar.working_days_between(start, last_instant(due.due_at)) == n
    # At the due instant the next day has begun: counted only if it is a working day.
    after = calendar.is_workday(due.due_date + timedelta(days=1))
    assert calendar.working_days_between(start, due.due_at) == n + after
    assert calendar.working_days_between(start, start) == 0


@hostile
@given(start=starts, n=allowances)
def test_provisional_exactly_when_a_counted_day_is_estimated(start, n):
    due = CALENDAR.deadline(start, n)
    official = set(CALENDAR.official_years())
    counted_years = {day.year for day in _days(beijing_day(start) + timedelta(days=1), due.due_date)}
    assert due.provisional == bool(counted_years - official)


def _days(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


# -- pauses, on the real clocks over SQLite ------------------------------------------------------


@pytest.fixture(scope="module")
def clocks():
    from aidflow_followup.service import service as followup
    from aidflow_shared.migrations import upgrade
    from aidflow_shared.storage import Database

    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/clocks.sqlite3", followup.metadata)
        upgrade(db, followup.migrations)
        yield DeadlineClocks("followup", db, CALENDAR, load_policy({}), CollectorRegistry())
        db.dispose()


def run(clocks, action, *args, **kwargs):
    from aidflow_shared.storage import UnitOfWork

    with UnitOfWork(clocks.db, source="/hostile") as uow:
        result = getattr(clocks, action)(uow, *args, **kwargs)
        uow.commit()
    return result


pauses = st.lists(st.tuples(st.integers(0, 20 * 24), st.integers(1, 20 * 24)), max_size=3)  # hours: gap, length


@settings(hostile, max_examples=max(5, EXAMPLES // 3))
@given(start=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2099, 6, 30),
                          timezones=st.just(BEIJING)),
       plan=pauses, early=st.booleans())
def test_pauses_add_their_working_days_to_the_allowance(clocks, start, plan, early):
    subject = uuid.uuid4().hex
    clock = run(clocks, "start", stage="review", subject_id=subject, started_at=start)
    allowance, at, paused_days = clock["allowance"], start, 0
    for gap, length in plan:
        paused_at = at + timedelta(hours=gap)
        resumed_at = paused_at + timedelta(hours=length)
        run(clocks, "pause", "review", subject, paused_at, "waiting for the applicant")
        clock = run(clocks, "resume", "review", subject, resumed_at)
        paused_days += CALENDAR.working_days_between(paused_at, resumed_at)
        at = resumed_at
    assert clock["extension"] == paused_days
    expected = CALENDAR.deadline(start, allowance + paused_days)
    assert clock["due_at"] == expected.due_at
    assume(clock["due_at"] > at)  # stopped after the last resumption
    stop_at = last_instant(clock["due_at"]) if early else clock["due_at"]
    assert run(clocks, "stop", "review", subject, stop_at) == ("met" if early else "missed")
    with clocks.db.sessions() as session:
        used = clocks.get(session, "review", subject)["working_days_used"]
    assert used == CALENDAR.working_days_between(start, stop_at) - paused_days
    assert used <= allowance if early else used >= allowance


# -- nonsense ------------------------------------------------------------------------------------


@hostile
@given(start=st.one_of(st.datetimes(), moments, st.datetimes(timezones=st.just(timezone.utc))),
       n=st.integers(min_value=-(2**70), max_value=2**70))
def test_nonsense_is_refused_with_a_value_error(start, n):
    try:
        CALENDAR.deadline(start, n)
    except ValueError:
        pass
    try:
        CALENDAR.working_days_between(start, start + timedelta(days=n % 1000))
    except ValueError:
        pass
