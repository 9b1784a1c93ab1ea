"""Hand-offs (转介) to partner agencies, and their answers, by whichever channel they come.

A hand-off asks one agency to serve the person with one service the plan needs. Before it goes:
the agency must provide that service, the person's consent must cover all the service needs to
know, and the contact details must be on record. It then carries that data and nothing more
(no name, no ID number, no phone: the agency fetches the contact details through the API) and
starts its acknowledgement clock (stage ``handoff``).

Answers follow the shared statuses of :mod:`aidflow_shared.contracts.followup`; a status never
goes back, and a closed hand-off stays closed. An agency answers on the broker (as the broker
user it is, never as the routing key or the body claims), with its token over HTTP, or through
staff for an agency without a broker connection. On the broker every answer is answered:
``handoff.recorded`` or ``handoff.refused`` with the reason, correlated to the agency's message.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from marshmallow import ValidationError
from sqlalchemy import select

from aidflow_followup import needs
from aidflow_followup.cases import beneficiary_of
from aidflow_followup.clocks import settle
from aidflow_followup.consent import active_agency, active_consent, missing_for
from aidflow_followup.errors import Refused, conflict, invalid
from aidflow_followup.orm import Handoff, HandoffAnswer, PartnerAgency, Plan
from aidflow_shared.calendar import BEIJING
from aidflow_shared.contracts.common import TRACKS
from aidflow_shared.contracts.followup import (DATA_CATEGORIES, HANDOFF_RECORDED, HANDOFF_REFUSED, HANDOFF_REQUESTED,
                                               HANDOFF_WITHDRAWN, HandoffAnswer as AnswerSchema)
from aidflow_shared.envelope import Envelope
from aidflow_shared.partners import publishing_agency
from aidflow_shared.i18n import DEFAULT_LANGUAGE, message
from aidflow_shared.logging import mask_pii
from aidflow_shared.schema import flatten_errors, instance
from aidflow_shared.storage import UnitOfWork, new_id, utcnow

OPEN = ("requested", "accepted", "in-service")
FINAL = ("completed", "declined", "withdrawn")
RANK = {"requested": 0, "accepted": 1, "in-service": 2, "completed": 3, "declined": 3}
WITHDRAWAL_REASONS = ("consent_withdrawn", "need_resolved", "wrong_agency", "person_unreachable", "overdue",
                      "other")
# Clocks of the agency and of the procuratorate differ a little; more is a date in the future.
CLOCK_SKEW = timedelta(minutes=5)
_ANSWER_KEY = re.compile(r"^(?P<agency>[a-z][a-z0-9-]*)\.handoff\.(?P<status>[a-z-]+)\.v1$")


def carries_personal_numbers(text: str | None) -> bool:
    """Whether ``text`` holds a resident ID number or a mobile number, which never go on the bus."""
    return bool(text) and mask_pii(text) != text


# -- the rules (pure) ----------------------------------------------------------------------------


def step(current: str, target: str) -> bool:
    """Whether moving from ``current`` to ``target`` changes anything; refused if it may not happen.

    The same status again is a repetition (False); a lower rank is going backwards; nothing
    moves a completed, declined or withdrawn hand-off.
    """
    if target == current:
        return False
    if current != "withdrawn" and RANK[target] < RANK[current]:
        raise conflict("status_backwards", "status")
    if current in FINAL:
        raise conflict("handoff_closed", "status")
    return True


def answer_problems(handoff: Handoff, status: str, answer: dict, now: datetime) -> dict[str, list[str]]:
    """Why an answer cannot be recorded as given: field paths to codes."""
    problems: dict[str, list[str]] = {}
    at = answer["at"]
    if at > now + CLOCK_SKEW:
        problems["at"] = ["date_in_future"]
    elif at < handoff.requested_at - CLOCK_SKEW:
        problems["at"] = ["before_request"]
    if status == "declined" and not answer.get("reason"):
        problems["reason"] = ["reason_required"]
    outcome = answer.get("outcome")
    if status == "completed" and not outcome:
        problems["outcome"] = ["outcome_required"]
    if outcome:
        received_on = outcome["received_on"]  # a day in Beijing, as the agency's papers say
        if received_on > (now + CLOCK_SKEW).astimezone(BEIJING).date():
            problems["outcome.received_on"] = ["date_in_future"]
        elif received_on < (handoff.requested_at - CLOCK_SKEW).astimezone(BEIJING).date():
            problems["outcome.received_on"] = ["before_request"]
        if carries_personal_numbers(outcome.get("summary")):
            problems["outcome.summary"] = ["personal_data_in_text"]
    if carries_personal_numbers(answer.get("note")):
        problems["note"] = ["personal_data_in_text"]
    return problems


def shared_data(handoff: Handoff, plan: Plan, known) -> dict:
    """What the agency is told of the person: the categories consented and needed, nothing else."""
    categories = set(handoff.shared_categories)
    case = plan.case
    data: dict = {"shared_categories": [c for c in DATA_CATEGORIES if c in categories],
                  "means_test_waived": handoff.service == "legal_aid",
                  "contact_path": f"/api/v1/handoffs/{handoff.id}/contact" if "contact" in categories else None,
                  "minor": None, "household": None, "harm": None, "health": None}
    if "minor" in categories:
        data["minor"] = {"is_minor": known.is_minor, "relationship": known.relationship_to_victim}
    if "household" in categories:
        data["household"] = {"poverty_markers": list(known.poverty_markers or ())}
    if "harm" in categories:
        data["harm"] = {"eligibility_situation": case.eligibility_situation, "victim_deceased": case.victim_deceased}
    if "health" in categories:
        data["health"] = {"psychological_state": plan.psychological_state,
                          "urgent_medical_need": known.urgent_medical_need}
    return data


# -- asking ----------------------------------------------------------------------------------------


def request_handoff(uow: UnitOfWork, followup, plan: Plan, *, service: str, agency: str, note: str | None,
                    by: str, now: datetime) -> Handoff:
    """Hand the plan's person over to ``agency`` for ``service``; refused unless everything holds."""
    session = uow.session
    if plan.status != "open":
        raise conflict("plan_closed")
    problems: dict[str, list[str]] = {}
    partner = active_agency(session, agency)
    if partner is None:
        problems["agency"] = ["unknown_partner_agency"]
    elif not needs.provides(agency, service):
        problems["agency"] = ["not_a_provider"]
    if carries_personal_numbers(note):
        problems["note"] = ["personal_data_in_text"]
    if problems:
        raise invalid(problems)
    known = beneficiary_of(session, plan)
    if known is None or not plan.case.facts_known:
        raise conflict("facts_unknown")
    need = next((n for n in plan.needs if n.service == service), None)
    if need is None or need.status != needs.NEEDED:
        raise conflict("not_a_need", "service")
    if any(h.service == service and h.status in OPEN for h in plan.handoffs):
        raise conflict("handoff_already_open", "service")
    consent = active_consent(session, plan.id, agency)
    missing = missing_for(service, set(consent.categories) if consent else set())
    if missing:
        raise Refused(409, "consent_missing", {f"consent.{category}": ["not_consented"] for category in missing})
    if known.is_minor and consent.given_by != "guardian":
        raise Refused(409, "guardian_consent_required", {"consent.given_by": ["guardian_consent_required"]})
    if "contact" in needs.DATA_NEEDED[service] and plan.contact is None:
        raise conflict("contact_missing")

    handoff = Handoff(id=new_id(), plan_id=plan.id, service=service, agency=agency, channel=partner.channel,
                      status="requested", note=note, requested_by=by, requested_at=now, updated_at=now,
                      shared_categories=[c for c in DATA_CATEGORIES if c in needs.DATA_NEEDED[service]])
    track = plan.case.track if plan.case.track in TRACKS else "standard"
    clock = followup.clocks.start(uow, stage="handoff", subject_id=handoff.id, started_at=now, track=track,
                                  case_id=plan.case_id)
    handoff.acknowledge_by = clock["due_at"]
    session.add(handoff)
    plan.handoffs.append(handoff)
    if partner.channel == "broker":
        uow.emit(HANDOFF_REQUESTED.type, {
            "handoff_id": handoff.id, "case_number": plan.case.case_number, "service": service,
            "requested_at": now, "acknowledge_by": handoff.acknowledge_by, "note": note,
            **shared_data(handoff, plan, known)}, agency=agency)
    return handoff


def withdraw(uow: UnitOfWork, followup, handoff: Handoff, reason: str, *, now: datetime) -> None:
    """Follow-up takes a hand-off back; the need is open again, and the agency is told."""
    if handoff.status not in OPEN:
        raise conflict("handoff_closed")
    handoff.status, handoff.reason, handoff.updated_at = "withdrawn", reason, now
    settle(uow, followup.clocks, "handoff", handoff.id, now, now)
    if handoff.channel == "broker":
        uow.emit(HANDOFF_WITHDRAWN.type, {"handoff_id": handoff.id, "reason": reason, "withdrawn_at": now},
                 agency=handoff.agency)


# -- answers ---------------------------------------------------------------------------------------


def record_answer(uow: UnitOfWork, followup, handoff: Handoff, status: str, answer: dict, *, channel: str,
                  by: str, now: datetime, message_id: str | None = None) -> bool:
    """Record an agency's answer; False if it repeats the current status. Raises :class:`Refused`."""
    problems = answer_problems(handoff, status, answer, now)
    if problems:
        raise invalid(problems)
    changed = step(handoff.status, status)
    if changed:
        handoff.status, handoff.updated_at = status, now
        if handoff.acknowledged_at is None:
            # Over the broker or HTTP the agency's answer counts when it arrived; staff write down
            # when the agency answered them.
            handoff.acknowledged_at = answer["at"] if channel == "staff" else now
            settle(uow, followup.clocks, "handoff", handoff.id, handoff.acknowledged_at, now)
        if status == "declined":
            handoff.reason = answer["reason"]
        if status == "completed":
            outcome = answer["outcome"]
            handoff.outcome = {**outcome, "received_on": outcome["received_on"].isoformat()}
            need = next((n for n in handoff.plan.needs if n.service == handoff.service), None)
            if need is not None and need.status == needs.NEEDED:
                need.status, need.updated_at = "met", now
    result = "recorded" if changed else "repeated"
    uow.session.add(HandoffAnswer(handoff_id=handoff.id, agency=handoff.agency, status=status, channel=channel,
                                  message_id=message_id, stated_at=answer["at"], received_at=now, result=result,
                                  recorded_by=by))
    uow.after_commit(lambda: followup.answers.labels(status, result).inc())
    return changed


def locked_handoff(session, handoff_id: str) -> Handoff | None:
    query = select(Handoff).where(Handoff.id == handoff_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalars(query).first()


def handle_partner_answer(uow: UnitOfWork, followup, event: Envelope, status: str) -> None:
    """``<agency>.handoff.<status>.v1`` on ``aidflow.inbound``: record it, then answer the agency."""
    session = uow.session
    agency = publishing_agency(session, PartnerAgency, event.user_id)
    now = utcnow()
    reference = event.data.get("handoff_id") if isinstance(event.data.get("handoff_id"), str) else None

    def refuse(reason: str, fields: dict[str, list[str]], current: str | None = None) -> None:
        _refuse(uow, followup, agency.code, event, status, reference, reason, fields, current, now)

    claimed = _ANSWER_KEY.match(event.routing_key or "")
    if claimed is None or claimed["agency"] != agency.code or claimed["status"] != status:
        return refuse("handoff_agency_mismatch", {"routing_key": ["handoff_agency_mismatch"]})
    try:
        answer = instance(AnswerSchema).load(event.data)
    except ValidationError as exc:
        return refuse("validation_failed", flatten_errors(exc.messages))
    handoff = locked_handoff(session, answer["handoff_id"])
    if handoff is None:
        return refuse("unknown_handoff", {"handoff_id": ["unknown_handoff"]})
    if handoff.agency != agency.code:
        return refuse("not_your_handoff", {"handoff_id": ["not_your_handoff"]})
    try:
        changed = record_answer(uow, followup, handoff, status, answer, channel="broker",
                                by=f"partner:{agency.code}", now=now, message_id=event.id)
    except Refused as refused:
        return refuse(refused.code, refused.fields, handoff.status)
    uow.emit(HANDOFF_RECORDED.type, {"handoff_id": handoff.id, "status": status, "already_recorded": not changed,
                                     "recorded_at": now}, agency=agency.code, correlation_id=event.id)


def _refuse(uow, followup, agency: str, event: Envelope, status: str, reference: str | None, reason: str,
            fields: dict[str, list[str]], current: str | None, now: datetime) -> None:
    problems = [{"field": path, "code": code, "message": message(code, DEFAULT_LANGUAGE)}
                for path, codes in sorted(fields.items()) for code in codes]
    uow.session.add(HandoffAnswer(handoff_id=(reference or "")[:64] or None, agency=agency, status=status,
                                  channel="broker", message_id=event.id, received_at=now, result="refused",
                                  reason=reason, errors={path: list(codes) for path, codes in fields.items()}))
    uow.after_commit(lambda: followup.answers.labels(status, "refused").inc())
    uow.emit(HANDOFF_REFUSED.type, {"handoff_id": reference if reference and len(reference) <= 64 else None,
                                    "reason": reason, "current_status": current, "errors": problems,
                                    "answered_at": now}, agency=agency, correlation_id=event.id)
