"""Return visits (回访): scheduled from policy when a plan opens, recorded with their outcome.

A plan gets one visit for each of the policy's ``visit_months`` (e.g. 1, 3, 6 and 12 months
after it opened). A visit's clock (stage ``visit``) starts on the day the visit falls due and
allows ``visit_grace_working_days``; a visit made after that is ``missed``, and one not made by
then is escalated (see :mod:`aidflow_followup.escalation`). Staff may also visit when needed,
off the schedule. What a visit finds (living situation, psychological state, services
received, satisfaction, awareness of the aid) feeds the plan and the published figures; a family
found back in hardship (返困) makes the plan's re-assessment due at once.
"""
from __future__ import annotations

import calendar as months_calendar
from datetime import date, datetime

from aidflow_followup.clocks import settle
from aidflow_followup.errors import conflict, invalid
from aidflow_followup.orm import Plan, Visit
from aidflow_shared.calendar import BEIJING
from aidflow_shared.storage import UnitOfWork, new_id, utcnow

METHODS = ("home", "phone", "office", "video")
LIVING_SITUATIONS = ("improved", "stable", "difficult", "in_crisis")


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day where it is shorter (31 Jan + 1 = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, months_calendar.monthrange(year, month)[1]))


def schedule(plan: Plan, visit_months: tuple[int, ...]) -> list[Visit]:
    opened_on = plan.opened_at.astimezone(BEIJING).date()
    visits = [Visit(id=new_id(), plan_id=plan.id, months_after=months, due_on=add_months(opened_on, months),
                    status="scheduled") for months in sorted(set(visit_months))]
    plan.visits.extend(visits)
    return visits


def outcome_problems(plan: Plan, body: dict, now: datetime) -> dict[str, list[str]]:
    """Why a visit's outcome cannot be recorded as given (pure)."""
    visited_at = body["visited_at"]
    if visited_at > now:
        return {"visited_at": ["date_in_future"]}
    if visited_at < plan.opened_at:
        return {"visited_at": ["before_plan"]}
    return {}


def record_visit(uow: UnitOfWork, followup, plan: Plan, visit: Visit | None, body: dict, *, by: str) -> Visit:
    """Record a visit made: the scheduled ``visit``, or (None) one off the schedule."""
    now = utcnow()
    if plan.status != "open":
        raise conflict("plan_closed")
    if visit is not None and visit.status != "scheduled":
        raise conflict("visit_closed")
    problems = outcome_problems(plan, body, now)
    if problems:
        raise invalid(problems)
    if visit is None:
        visit = Visit(id=new_id(), plan_id=plan.id, status="scheduled")
        plan.visits.append(visit)
        uow.session.add(visit)
    for name in ("visited_at", "method", "living_situation", "psychological_state", "satisfaction", "note"):
        setattr(visit, name, body.get(name))
    visit.services_received = list(dict.fromkeys(body.get("services_received") or ()))
    visit.aware_of_aid = body.get("aware_of_aid")
    visit.returned_to_hardship = bool(body.get("returned_to_hardship"))
    visit.status, visit.recorded_by, visit.recorded_at = "done", by, now
    if body.get("psychological_state"):
        plan.psychological_state = body["psychological_state"]
    if visit.returned_to_hardship:
        # 返困: rolling management re-assesses now, and the relapse allows a re-referral.
        plan.relapsed_at = body["visited_at"]
        plan.next_assessment_on = followup.today(now)
    _settle(uow, followup, visit, body["visited_at"], now)
    return visit


def cancel_visit(uow: UnitOfWork, followup, plan: Plan, visit: Visit, reason: str, *, by: str) -> Visit:
    """A visit that will not be made (the person moved away, refused, died): closed with the reason."""
    if visit.status != "scheduled":
        raise conflict("visit_closed")
    now = utcnow()
    visit.status, visit.cancel_reason, visit.recorded_by, visit.recorded_at = "cancelled", reason, by, now
    _settle(uow, followup, visit, now, now)
    return visit


def _settle(uow, followup, visit: Visit, at: datetime, now: datetime) -> None:
    settle(uow, followup.clocks, "visit", visit.id, at, now)
