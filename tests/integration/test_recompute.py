"""Recomputing open deadlines for a changed calendar, set-based and in batches, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from aidflow_followup.service import service as followup
from aidflow_shared.calendar import BEIJING, WorkingCalendar
from aidflow_shared.deadlines import DeadlineClocks
from aidflow_shared.migrations import upgrade
from aidflow_shared.policy import load_policy
from aidflow_shared.storage import Database, UnitOfWork


@pytest.fixture
def db(database_url):
    database = Database(database_url, followup.metadata)
    upgrade(database, followup.migrations)
    yield database
    database.dispose()


@pytest.fixture
def calendars(tmp_path):
    """The library's calendar, and the same once its first estimated year is announced."""
    estimated = WorkingCalendar()
    year = max(estimated.official_years()) + 1
    moved = [estimated.workday_after(date(year, 3, 2), k) for k in (1, 2, 3)]
    overrides = tmp_path / "calendar.json"
    overrides.write_text(json.dumps({"official_years": [year],
                                     "holidays": {day.isoformat(): "公告" for day in moved}}))
    return estimated, WorkingCalendar.load(overrides), year


def clocks_with(db, calendar):
    return DeadlineClocks("followup", db, calendar, load_policy({}), CollectorRegistry())


def start_all(clocks, db, year):
    """Clocks of every kind: working and calendar days, paused with pause days, a one-day
    allowance (its warning mark is its start), in and out of the announced year, and a stopped one."""
    at = datetime(year, 2, 26, 10, 30, tzinfo=BEIJING)
    starts = [("review", f"r{n}", at + timedelta(days=n), None) for n in range(8)]
    starts += [("payout", "p1", at, None), ("handoff", "h1", at, None), ("review", "short", at, 1),
               ("review", "last-year", datetime(year - 1, 3, 3, 9, tzinfo=BEIJING), None),
               ("visit", "v1", at, None), ("review", "done", at, None), ("review", "paused", at, None)]
    with UnitOfWork(db, source="/t") as uow:
        for stage, subject, started_at, days in starts:
            clocks.start(uow, stage=stage, subject_id=subject, started_at=started_at, days=days)
        uow.commit()
    with UnitOfWork(db, source="/t") as uow:
        clocks.stop(uow, "review", "done", at + timedelta(days=1))
        clocks.pause(uow, "review", "paused", at + timedelta(hours=2), "waiting for documents")
        clocks.pause(uow, "review", "r7", at + timedelta(hours=2), "waiting for documents")
        uow.commit()
    with UnitOfWork(db, source="/t") as uow:
        clocks.resume(uow, "review", "r7", at + timedelta(days=4))
        uow.commit()


def rows(db, clocks):
    with db.engine.connect() as conn:
        return {r["subject_id"]: dict(r) for r in conn.execute(select(clocks.table)).mappings()}


def recomputed(db, clocks):
    with db.engine.connect() as conn:
        return conn.execute(select(clocks.changes).where(clocks.changes.c.kind == "recomputed")).mappings().all()


def test_every_open_clock_moves_to_the_new_calendar_and_each_change_is_recorded_once(db, calendars):
    estimated, announced, year = calendars
    start_all(clocks_with(db, estimated), db, year)
    before = rows(db, clocks_with(db, estimated))
    fresh = clocks_with(db, announced)

    changed = fresh.recompute(batch=3)  # several batches

    after = rows(db, fresh)
    expected_changes = set()
    for subject, clock in after.items():
        if clock["status"] == "stopped":
            assert clock == before[subject]
            continue
        plan = fresh.schedule(clock["started_at"], clock["allowance"] + clock["extension"], clock["unit"])
        assert (clock["due_at"], clock["warning_at"], clock["critical_at"], clock["provisional"], clock["calendar"]) \
            == (plan.due_at, plan.warning_at, plan.critical_at, plan.provisional, announced.fingerprint), subject
        if (plan.due_at, plan.provisional) != (before[subject]["due_at"], before[subject]["provisional"]):
            expected_changes.add(clock["id"])
    assert after["short"]["warning_at"] == after["short"]["started_at"]
    assert after["paused"]["status"] == "paused" and after["r7"]["extension"] > 0
    assert after["p1"]["unit"] == "calendar" and after["p1"]["due_at"] == before["p1"]["due_at"]
    assert expected_changes and changed == len(expected_changes)
    changes = recomputed(db, fresh)
    assert {c["clock_id"] for c in changes} == expected_changes and len(changes) == changed
    by_clock = {c["clock_id"]: c for c in changes}
    clock = after["r0"]
    assert by_clock[clock["id"]]["due_at"] == clock["due_at"]
    assert by_clock[clock["id"]]["reason"] == f"calendar {estimated.fingerprint} -> {announced.fingerprint}"

    assert fresh.recompute() == 0  # nothing left to move
    assert len(recomputed(db, fresh)) == changed


def test_two_instances_recomputing_at_once_record_each_change_once(db, calendars):
    estimated, announced, year = calendars
    start_all(clocks_with(db, estimated), db, year)
    first, second = clocks_with(db, announced), clocks_with(db, announced)
    counts, errors, barrier = [], [], threading.Barrier(2)

    def run(clocks):
        barrier.wait()
        try:
            counts.append(clocks.recompute(batch=2))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    changes = recomputed(db, first)
    assert sum(counts) == len(changes) > 0
    assert len({c["clock_id"] for c in changes}) == len(changes)
