"""Deadline compliance of the published summaries, read from real clocks on SQLite and PostgreSQL:
what stopped in the period was met or missed, and what was still open past its deadline at the
period's end is overdue, whether it finished later or not at all."""
from __future__ import annotations

from datetime import date

import pytest
from prometheus_client import CollectorRegistry

from aidflow_shared.calendar import WorkingCalendar
from aidflow_shared.deadlines import DeadlineClocks
from aidflow_shared.http.errors import ApiError
from aidflow_shared.policy import load_policy
from aidflow_shared.reporting import Period, compliance, parse_period
from aidflow_shared.storage import UnitOfWork
from test_deadlines import beijing, db  # noqa: F401 - a service's migrated database, on SQLite and PostgreSQL


def test_met_missed_and_overdue_per_stage_and_track(db):  # noqa: F811
    clocks = DeadlineClocks("followup", db, WorkingCalendar(), load_policy({}), CollectorRegistry())
    timeline = {  # subject: (started, stopped or None, track)
        "in-time": (beijing(2025, 3, 3, 10), beijing(2025, 3, 4, 10), "standard"),
        "late": (beijing(2025, 1, 2, 10), beijing(2025, 3, 20, 10), "standard"),
        "february": (beijing(2025, 2, 3, 10), beijing(2025, 2, 5, 10), "standard"),
        "still-open": (beijing(2025, 2, 3, 10), None, "standard"),
        "not-due-yet": (beijing(2025, 3, 28, 10), None, "standard"),
        "finished-in-april": (beijing(2025, 2, 3, 10), beijing(2025, 4, 15, 10), "standard"),
        "urgent": (beijing(2025, 3, 3, 10), beijing(2025, 3, 3, 15), "urgent_medical"),
    }
    for subject, (started, stopped, track) in timeline.items():
        with UnitOfWork(db, source="/test") as uow:
            clocks.start(uow, stage="review", subject_id=subject, started_at=started, track=track)
            if stopped:
                clocks.stop(uow, "review", subject, stopped)
            uow.commit()
    march = Period(date(2025, 3, 1), date(2025, 3, 31))
    with db.sessions() as session:
        figures = compliance(session, clocks.table, ("review", "payout"), march)
        february = compliance(session, clocks.table, ("review",), Period(date(2025, 2, 1), date(2025, 2, 28)))
    assert figures["review"] == {"met": 2, "missed": 1, "met_share": 0.6667, "overdue_open": 2,
                                 "by_track": {"standard": {"met": 1, "missed": 1},
                                              "urgent_medical": {"met": 1, "missed": 0}}}
    assert figures["payout"]["met"] == 0 and figures["payout"]["met_share"] is None
    # At the end of February "late" and the two clocks started on 3 February were open past due.
    assert (february["review"]["met"], february["review"]["missed"], february["review"]["overdue_open"]) == (1, 0, 3)


def test_a_period_is_two_beijing_days_both_included():
    period = parse_period({"from": "2026-01-01", "to": "2026-01-31"})
    assert period.start == beijing(2026, 1, 1) and period.end == beijing(2026, 2, 1)
    with pytest.raises(ApiError) as too_long:
        parse_period({"from": "2000-01-01", "to": "2026-01-01"})
    assert too_long.value.status == 400 and too_long.value.fields == {"to": ["range"]}
