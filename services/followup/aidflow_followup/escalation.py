"""Deadlines of follow-up and what happens when they pass: the worker's sweep.

Two kinds of clock (see :mod:`aidflow_shared.deadlines`): a hand-off's acknowledgement (stage
``handoff``, ``handoff_ack_working_days`` from the request) and a return visit (stage ``visit``,
``visit_grace_working_days`` from the day it falls due). The sweep, run by every worker:

1. starts the clock of each scheduled visit whose day has come;
2. lets the clocks record their breaches;
3. escalates each breached hand-off or visit once: an :class:`Escalation` for the department
   head (``GET /escalations``), and, for an agency on the broker, ``handoff.overdue`` on its queue.
   An escalation is resolved when the hand-off is answered or withdrawn, the visit made or cancelled.

Each escalation is claimed by its unique (stage, subject) in its own transaction, with its
event, so two workers sweeping at once escalate it once between them. ``now`` can be given, so
that tests move time instead of waiting for it.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError

from aidflow_followup.clocks import due_moment
from aidflow_followup.orm import Escalation, Handoff, Visit
from aidflow_shared.contracts.followup import HANDOFF_OVERDUE
from aidflow_shared.storage import new_id, utcnow

log = logging.getLogger(__name__)

STAGES = ("handoff", "visit")


def sweep(followup, now: datetime | None = None) -> dict[str, int]:
    """One round of the worker: visits fallen due get clocks, passed deadlines get escalated."""
    now = now or utcnow()
    started = start_due_visits(followup, now)
    followup.clocks.scan(followup.unit_of_work, now)
    escalated = escalate_breaches(followup, now)
    return {"visits_due": started, "escalated": escalated}


def start_due_visits(followup, now: datetime) -> int:
    clocks = followup.clocks.table
    today = followup.today(now)
    query = (select(Visit.id, Visit.due_on, Visit.plan_id)
             .outerjoin(clocks, and_(clocks.c.stage == "visit", clocks.c.subject_id == Visit.id))
             .where(Visit.status == "scheduled", Visit.due_on <= today, clocks.c.id.is_(None)))
    with followup.db.sessions() as session:
        due = session.execute(query).all()
    for visit_id, due_on, plan_id in due:
        with followup.unit_of_work() as uow:
            visit = uow.session.get(Visit, visit_id)
            if visit is None or visit.status != "scheduled":
                continue
            followup.clocks.start(uow, stage="visit", subject_id=visit_id, started_at=due_moment(due_on),
                                  track=visit.plan.case.track, case_id=visit.plan.case_id)
            uow.commit()
    return len(due)


def escalate_breaches(followup, now: datetime) -> int:
    clocks = followup.clocks.table
    query = (select(clocks.c.stage, clocks.c.subject_id, clocks.c.due_at)
             .outerjoin(Escalation, and_(Escalation.stage == clocks.c.stage,
                                         Escalation.subject_id == clocks.c.subject_id))
             .where(clocks.c.stage.in_(STAGES), clocks.c.status == "running", clocks.c.due_at <= now,
                    Escalation.id.is_(None)))
    with followup.db.sessions() as session:
        breached = session.execute(query).all()
    escalated = 0
    for stage, subject_id, due_at in breached:
        try:
            with followup.unit_of_work() as uow:
                if _escalate(uow, stage, subject_id, due_at, now):
                    uow.after_commit(lambda stage=stage: followup.escalations.labels(stage).inc())
                    uow.commit()
                    escalated += 1
        except IntegrityError:  # another worker escalated it first
            continue
    return escalated


def _escalate(uow, stage: str, subject_id: str, due_at: datetime, now: datetime) -> bool:
    session = uow.session
    if stage == "handoff":
        subject = session.get(Handoff, subject_id)
        if subject is None or subject.acknowledged_at is not None or subject.status == "withdrawn":
            return False
        plan_id, agency = subject.plan_id, subject.agency
        subject.escalated_at = now
    else:
        subject = session.get(Visit, subject_id)
        if subject is None or subject.status != "scheduled":
            return False
        plan_id, agency = subject.plan_id, None
    session.add(Escalation(id=new_id(), stage=stage, subject_id=subject_id, plan_id=plan_id, agency=agency,
                           due_at=due_at, escalated_at=now))
    session.flush()  # the unique (stage, subject) decides between two workers, here
    if stage == "handoff" and subject.channel == "broker":
        uow.emit(HANDOFF_OVERDUE.type, {"handoff_id": subject_id, "acknowledge_by": due_at, "escalated_at": now},
                 agency=agency)
    log.warning("deadline passed; escalated", extra={"stage": stage})
    return True


def run(followup, stop: threading.Event) -> None:
    """The worker's loop: sweep every ``AIDFLOW_FOLLOWUP_SWEEP_INTERVAL`` seconds until stopped."""
    while not stop.is_set():
        try:
            sweep(followup)
        except Exception:  # the database is away: the next round tries again
            log.warning("follow-up sweep failed; will retry", exc_info=True)
        stop.wait(followup.settings.sweep_interval)
