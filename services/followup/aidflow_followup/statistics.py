"""The figures the seed report publishes: satisfaction and awareness from return visits, and how
the follow-up goes (plans, hand-offs by service and status, escalations, relapses, re-referrals).

Aggregates only: counts, shares and means, never a case, a person or a free-text note.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func, select

from aidflow_followup.orm import Escalation, Handoff, Plan, ReReferral, Visit
from aidflow_shared.calendar import BEIJING


def _moment(day: date) -> datetime:
    return datetime.combine(day, time(0), BEIJING).astimezone(timezone.utc)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def figures(session, since: date | None = None, until: date | None = None) -> dict:
    """The figures over visits made and plans opened from ``since`` to ``until`` (Beijing days, inclusive)."""
    start = _moment(since) if since else None
    end = _moment(until + timedelta(days=1)) if until else None

    def within(column):
        conditions = []
        if start is not None:
            conditions.append(column >= start)
        if end is not None:
            conditions.append(column < end)
        return conditions

    visits = within(Visit.visited_at) + [Visit.status == "done"]
    made = session.scalar(select(func.count()).select_from(Visit).where(*visits))
    scores = dict(session.execute(select(Visit.satisfaction, func.count()).where(
        *visits, Visit.satisfaction.is_not(None)).group_by(Visit.satisfaction)).all())
    answered = sum(scores.values())
    satisfied = scores.get(4, 0) + scores.get(5, 0)
    mean = round(sum(score * n for score, n in scores.items()) / answered, 2) if answered else None
    aware = dict(session.execute(select(Visit.aware_of_aid, func.count()).where(
        *visits, Visit.aware_of_aid.is_not(None)).group_by(Visit.aware_of_aid)).all())
    asked = sum(aware.values())
    relapses = session.scalar(select(func.count()).select_from(Visit).where(*visits,
                                                                            Visit.returned_to_hardship.is_(True)))
    plans = within(Plan.opened_at)
    plan_counts = dict(session.execute(select(Plan.status, func.count()).where(*plans).group_by(Plan.status)).all())
    handoffs = within(Handoff.requested_at)
    by_service: dict[str, dict[str, int]] = {}
    for service, status, n in session.execute(select(Handoff.service, Handoff.status, func.count())
                                              .where(*handoffs).group_by(Handoff.service, Handoff.status)):
        by_service.setdefault(service, {})[status] = n
    sent = sum(sum(s.values()) for s in by_service.values())
    completed = sum(s.get("completed", 0) for s in by_service.values())
    escalations = dict(session.execute(select(Escalation.stage, func.count()).where(
        *within(Escalation.escalated_at)).group_by(Escalation.stage)).all())
    rereferrals = dict(session.execute(select(ReReferral.status, func.count()).where(
        *within(ReReferral.requested_at)).group_by(ReReferral.status)).all())
    return {
        "since": since, "until": until,
        "visits": {"made": made, "returned_to_hardship": relapses},
        "satisfaction": {"answered": answered, "mean": mean, "satisfied": satisfied,
                         "satisfied_share": _share(satisfied, answered),
                         "distribution": {str(score): scores.get(score, 0) for score in range(1, 6)}},
        "awareness": {"asked": asked, "aware": aware.get(True, 0), "aware_share": _share(aware.get(True, 0), asked)},
        "plans": {"opened": sum(plan_counts.values()), "open": plan_counts.get("open", 0),
                  "closed": plan_counts.get("closed", 0)},
        "handoffs": {"sent": sent, "completed": completed, "completed_share": _share(completed, sent),
                     "by_service": by_service},
        "escalations": {stage: escalations.get(stage, 0) for stage in ("handoff", "visit")},
        "rereferrals": {status: rereferrals.get(status, 0) for status in ("requested", "accepted", "refused")},
    }
