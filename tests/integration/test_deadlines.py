"""Deadline clocks on SQLite and PostgreSQL: the life of a clock, bands, breaches once, recomputation."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from aidflow_followup.service import service as followup
from aidflow_shared.calendar import BEIJING, WorkingCalendar
from aidflow_shared.deadlines import ClockError, DeadlineClocks
from aidflow_shared.migrations import upgrade
from aidflow_shared.policy import load_policy
from aidflow_shared.storage import Database, UnitOfWork


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=BEIJING)


@pytest.fixture
def db(database_url):
    database = Database(database_url, followup.metadata)
    upgrade(database, followup.migrations)
    yield database
    database.dispose()


def make_clocks(db, calendar=None, registry=None, **policy):
    environ = {f"AIDFLOW_POLICY_{k.upper()}": str(v) for k, v in policy.items()}
    return DeadlineClocks("followup", db, calendar or WorkingCalendar(), load_policy(environ),
                          registry or CollectorRegistry())


def read_clock(clocks, db, subject="s1"):
    with db.sessions() as session:
        return clocks.get(session, "review", subject)


def uow_factory(db):
    return lambda: UnitOfWork(db, source="/aidflow/test")


def start(clocks, db, subject="s1", stage="review", at=None, track="standard"):
    with UnitOfWork(db, source="/t") as uow:
        clock = clocks.start(uow, stage=stage, subject_id=subject, started_at=at or beijing(2025, 9, 26, 10),
                             track=track, case_id="case-1")
        uow.commit()
    return clock


def test_review_clock_counts_working_days_across_the_national_day_holiday(db):
    clocks = make_clocks(db)
    clock = start(clocks, db)  # Friday 2025-09-26; Sunday 09-28 is a workday; 10-01..08 are holidays
    assert clock["due_at"] == beijing(2025, 10, 11)  # the end of Friday 2025-10-10
    assert not clock["provisional"] and clock["unit"] == "working"
    assert clock["critical_at"] == beijing(2025, 10, 10)  # the last working day
    assert clock["warning_at"] == beijing(2025, 10, 1)  # two working days left: 10-09 and 10-10
    urgent = start(clocks, db, subject="s2", at=beijing(2024, 9, 30, 9), track="urgent_medical")
    assert urgent["due_at"] == beijing(2024, 10, 10)  # the end of 2024-10-09


def test_payout_clock_counts_calendar_days(db):
    clock = start(make_clocks(db), db, stage="payout", at=beijing(2025, 9, 30, 15))
    assert clock["unit"] == "calendar" and clock["due_at"] == beijing(2025, 10, 8)  # 7 days, holidays or not


def test_bands_follow_the_policy(db):
    clocks = make_clocks(db)
    clock = start(clocks, db)
    row = type("Row", (), clock)
    assert clocks.band(row, beijing(2025, 9, 30, 12)) == "ok"
    assert clocks.band(row, beijing(2025, 10, 3, 12)) == "warning"
    assert clocks.band(row, beijing(2025, 10, 10, 12)) == "critical"
    assert clocks.band(row, beijing(2025, 10, 11, 0)) == "breached"


def test_pause_while_waiting_for_documents_extends_by_the_working_days_waited(db):
    clocks = make_clocks(db)
    start(clocks, db, at=beijing(2025, 11, 3, 9))  # Monday: due end of Monday 11-10
    with UnitOfWork(db, source="/t") as uow:
        clocks.pause(uow, "review", "s1", beijing(2025, 11, 4, 10), "medical bills missing")
        with pytest.raises(ClockError):
            clocks.pause(uow, "review", "s1", beijing(2025, 11, 4, 11), "again")
        uow.commit()
    with UnitOfWork(db, source="/t") as uow:
        resumed = clocks.resume(uow, "review", "s1", beijing(2025, 11, 6, 16))  # Thu: 2 working days waited
        uow.commit()
    assert resumed["extension"] == 2 and resumed["due_at"] == beijing(2025, 11, 13)
    with UnitOfWork(db, source="/t") as uow:
        assert clocks.stop(uow, "review", "s1", beijing(2025, 11, 12, 10)) == "met"
        assert clocks.stop(uow, "review", "s1", beijing(2025, 11, 12, 11)) is None
        uow.commit()
    kinds = [r.kind for r in db.engine.connect().execute(select(clocks.changes).order_by(clocks.changes.c.id))]
    assert kinds == ["started", "paused", "resumed", "stopped"]


def test_stopping_late_counts_as_missed_in_the_metrics(db):
    registry = CollectorRegistry()
    clocks = make_clocks(db, registry=registry)
    start(clocks, db, track="urgent_medical", at=beijing(2025, 11, 3, 9))
    with UnitOfWork(db, source="/t") as uow:
        assert clocks.stop(uow, "review", "s1", beijing(2025, 11, 7, 9)) == "missed"
        uow.commit()
    labels = {"stage": "review", "track": "urgent_medical"}
    assert registry.get_sample_value("aidflow_deadline_missed_total", labels) == 1
    assert registry.get_sample_value("aidflow_stage_working_days_sum", labels) == 4


def test_a_stop_that_rolls_back_is_not_counted(db):
    registry = CollectorRegistry()
    clocks = make_clocks(db, registry=registry)
    start(clocks, db)
    with UnitOfWork(db, source="/t") as uow:
        clocks.stop(uow, "review", "s1", beijing(2025, 9, 29, 9))
        # no commit
    assert registry.get_sample_value("aidflow_deadline_met_total", {"stage": "review", "track": "standard"}) is None


def test_open_clocks_by_band_from_the_database(db):
    registry = CollectorRegistry()
    clocks = make_clocks(db, registry=registry)
    now = datetime.now(timezone.utc)
    start(clocks, db, subject="fresh", at=now)
    start(clocks, db, subject="old", at=now - timedelta(days=60))
    assert registry.get_sample_value("aidflow_deadline_open", {"stage": "review", "band": "ok"}) == 1
    assert registry.get_sample_value("aidflow_deadline_open", {"stage": "review", "band": "breached"}) == 1
    assert registry.get_sample_value("aidflow_deadline_open", {"stage": "payout", "band": "ok"}) == 0


def test_a_breach_is_announced_once_even_with_two_instances_scanning(db):
    first, second = make_clocks(db), make_clocks(db)
    for n in range(6):
        start(first, db, subject=f"late-{n}", at=datetime.now(timezone.utc) - timedelta(days=40))
    start(first, db, subject="on-time", at=datetime.now(timezone.utc))
    counts, barrier = [], threading.Barrier(2)

    def scan(clocks):
        barrier.wait()
        counts.append(clocks.scan(uow_factory(db)))

    threads = [threading.Thread(target=scan, args=(c,)) for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(counts) == 6
    assert first.scan(uow_factory(db)) == 0  # and never again
    changes = db.engine.connect().execute(select(first.changes).where(first.changes.c.kind == "breached")).all()
    assert len(changes) == 6


def test_a_deadline_in_an_unannounced_year_is_provisional_until_the_year_is_loaded(db, tmp_path):
    estimated = WorkingCalendar()
    year = max(estimated.official_years()) + 1
    clocks = make_clocks(db, calendar=estimated)
    start(clocks, db, at=beijing(year, 1, 27, 10))
    clock = read_clock(clocks, db)
    assert clock["provisional"]

    # The State Council announces the year: an extra holiday falls inside the clock's days.
    extra_holiday = estimated.workday_after(datetime(year, 1, 27).date(), 2)
    overrides = tmp_path / "calendar.json"
    overrides.write_text(json.dumps({"official_years": [year], "holidays": {extra_holiday.isoformat(): "春节（公告）"}}))
    announced = WorkingCalendar.load(overrides)
    assert make_clocks(db, calendar=announced).recompute(uow_factory(db)) == 1
    clock = read_clock(clocks, db)
    assert not clock["provisional"] and clock["calendar"] == announced.fingerprint
    assert clock["due_at"] == announced.deadline(beijing(year, 1, 27, 10), 5).due_at
    assert make_clocks(db, calendar=announced).recompute(uow_factory(db)) == 0
    kinds = [r.kind for r in db.engine.connect().execute(select(clocks.changes))]
    assert kinds.count("recomputed") == 1
