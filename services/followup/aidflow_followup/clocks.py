"""Follow-up's use of the shared deadline clocks: when a visit's clock starts, and settling a clock.

Settling is what every way of ending a hand-off or a visit does: stop its clock (``met`` or
``missed``) if one runs, and resolve its escalation if there is one.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone

from sqlalchemy import select

from aidflow_followup.orm import Escalation
from aidflow_shared.calendar import BEIJING


def due_moment(day: date) -> datetime:
    """The start of ``day`` in Beijing, as UTC: when a visit falling due that day starts its clock."""
    return datetime.combine(day, time(0), BEIJING).astimezone(timezone.utc)


def settle(uow, clocks, stage: str, subject_id: str, at: datetime, now: datetime) -> str | None:
    """Stop the clock of ``subject_id`` at ``at`` and resolve its escalation; the clock's outcome."""
    outcome = clocks.stop(uow, stage, subject_id, at, missing_ok=True)
    escalation = uow.session.scalars(select(Escalation).where(Escalation.stage == stage,
                                                              Escalation.subject_id == subject_id)).first()
    if escalation is not None and escalation.resolved_at is None:
        escalation.resolved_at = now
    return outcome
