"""Follow-up's published figures for a period: plans opened, hand-offs requested and completed per
agency, return visits made and overdue, satisfaction and awareness from the visits, relapses and
re-referrals (the figures of :mod:`aidflow_followup.statistics`), and the hand-off and visit
deadlines.

Served at ``GET /api/v1/reports/summary``; aggregates only (see :mod:`aidflow_shared.reporting`).
"""
from __future__ import annotations

from marshmallow import fields
from sqlalchemy import func, select

from aidflow_followup.orm import Handoff, Visit
from aidflow_followup.statistics import figures as statistics
from aidflow_shared.calendar import beijing_today
from aidflow_shared.reporting import Period, SummaryOut, summary_blueprint


class FollowupSummaryOut(SummaryOut):
    plans = fields.Dict(keys=fields.String(), values=fields.Integer(),
                        metadata={"description": "plans opened in the period; of them still open and closed"})
    handoffs = fields.Dict(metadata={"description": "hand-offs requested in the period: sent, completed, the share "
                                                    "completed, by service and by agency (requested, completed, "
                                                    "and each status)"})
    visits = fields.Dict(keys=fields.String(), values=fields.Integer(),
                         metadata={"description": "made in the period; due in it; overdue (due, not made); "
                                                  "returned to hardship"})
    satisfaction = fields.Dict(metadata={"description": "scores 1..5 from the visits made: answered, mean, "
                                                        "satisfied (4 or 5), the share satisfied, distribution"})
    awareness = fields.Dict()
    escalations = fields.Dict(keys=fields.String(), values=fields.Integer())
    rereferrals = fields.Dict(keys=fields.String(), values=fields.Integer())


def figures(session, period: Period) -> dict:
    base = statistics(session, period.since, period.until)
    by_agency: dict[str, dict[str, int]] = {}
    for agency, status, n in session.execute(select(Handoff.agency, Handoff.status, func.count())
                                             .where(*period.within(Handoff.requested_at))
                                             .group_by(Handoff.agency, Handoff.status)):
        entry = by_agency.setdefault(agency, {"requested": 0, "completed": 0})
        entry["requested"] += n
        entry[status] = entry.get(status, 0) + n
    today = beijing_today()
    due = period.days_within(Visit.due_on)
    visits_due = session.scalar(select(func.count()).select_from(Visit).where(*due, Visit.status != "cancelled"))
    overdue = session.scalar(select(func.count()).select_from(Visit).where(*due, Visit.status == "scheduled",
                                                                           Visit.due_on < today))
    return {
        "plans": base["plans"],
        "handoffs": {**base["handoffs"], "by_agency": by_agency},
        "visits": {"made": base["visits"]["made"], "due": visits_due, "overdue": overdue,
                   "returned_to_hardship": base["visits"]["returned_to_hardship"]},
        "satisfaction": base["satisfaction"], "awareness": base["awareness"],
        "escalations": base["escalations"], "rereferrals": base["rereferrals"],
    }


def blueprint(runtime):
    return summary_blueprint(runtime, figures, FollowupSummaryOut, stages=("handoff", "visit"),
                             description="Plans opened, hand-offs requested and completed by service and agency, "
                                         "return visits made, due and overdue, satisfaction and awareness from the "
                                         "visits, relapses, escalations and re-referrals, and the hand-off and visit "
                                         "deadlines met or missed.")
