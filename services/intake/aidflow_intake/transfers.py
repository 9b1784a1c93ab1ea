"""Transfers (移送) from partner agencies, over the broker or HTTP, and intake's answers.

Who the agency is comes from something it cannot forge: on the broker, the AMQP ``user_id``
that RabbitMQ validated against the connection's user, mapped through intake's registry of
partner agencies; over HTTP, the agency in the caller's signed token. The payload never names
the agency. A broker message whose routing key names another agency than its publisher is
answered ``agency_mismatch`` to the publisher; one without a known publisher is parked.

Every transfer received is recorded with when it arrived and when it was answered, so the
5-working-day transfer clock can be measured on it. Answers carry the agency's reference and the
case number, never personal data.
"""
from __future__ import annotations

import re
from datetime import datetime

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from aidflow_intake.cases import ATTEMPTS, Refused, register_case
from aidflow_intake.orm import Case, PartnerAgency, PartnerTransfer
from aidflow_intake.schemas import PartnerReferralIn
from aidflow_shared.contracts.catalogue import REFERRAL_ACCEPTED, REFERRAL_REJECTED
from aidflow_shared.envelope import Envelope
from aidflow_shared.partners import publishing_agency
from aidflow_shared.i18n import DEFAULT_LANGUAGE, message
from aidflow_shared.schema import flatten_errors, instance
from aidflow_shared.storage import UnitOfWork, new_id, utcnow

_SUBMIT_KEY = re.compile(r"^(?P<agency>[a-z][a-z0-9-]*)\.referral\.submit\.v1$")


def active_agency(session, code: str | None) -> PartnerAgency | None:
    agency = session.get(PartnerAgency, code) if code else None
    return agency if agency is not None and agency.active else None


def receive(uow: UnitOfWork, agency: PartnerAgency, submission: dict, *, channel: str, received_at: datetime,
            message_id: str | None = None, sent_at: datetime | None = None) -> tuple[PartnerTransfer, Case]:
    """Register a valid transfer as a case, or recognise a reference already registered.

    Raises :class:`Refused` (duplicate case ...) with nothing of the attempt left behind. The
    transfer row is written before the case, so two deliveries of the same reference race on
    its unique index and the loser, trying again, finds the winner's case.
    """
    for attempt in range(ATTEMPTS):
        try:
            with uow.session.begin_nested():
                return _receive_once(uow, agency, submission, channel, received_at, message_id, sent_at)
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _receive_once(uow, agency, submission, channel, received_at, message_id, sent_at):
    session = uow.session
    reference = submission["partner_reference"]
    transfer = PartnerTransfer(id=new_id(), agency=agency.code, partner_reference=reference, channel=channel,
                               message_id=message_id, sent_at=sent_at, received_at=received_at)
    earlier = session.scalars(select(PartnerTransfer).where(
        PartnerTransfer.agency == agency.code, PartnerTransfer.partner_reference == reference,
        PartnerTransfer.outcome == "accepted")).first()
    if earlier is not None:
        transfer.outcome, transfer.case_id, transfer.answered_at = "repeated", earlier.case_id, utcnow()
        session.add(transfer)
        return transfer, session.get(Case, earlier.case_id)
    transfer.outcome = "accepted"
    session.add(transfer)
    session.flush()
    referral = {**submission, "source": "partner_transfer"}
    opened = register_case(uow, referral, registered_by=f"partner:{agency.code}", source_agency=agency.code,
                           received_at=received_at)
    transfer.case_id, transfer.answered_at = opened.case.id, utcnow()
    return transfer, opened.case


def answer(transfer: PartnerTransfer, case: Case) -> dict:
    return {"partner_reference": transfer.partner_reference, "case_number": case.case_number,
            "already_received": transfer.outcome == "repeated", "received_at": transfer.received_at,
            "answered_at": transfer.answered_at}


# -- the broker command ----------------------------------------------------------------------------


def handle_submission(uow: UnitOfWork, event: Envelope) -> None:
    """``<agency>.referral.submit.v1`` on ``aidflow.inbound``: register, then answer the agency."""
    session = uow.session
    agency = publishing_agency(session, PartnerAgency, event.user_id)
    received_at = utcnow()
    reference = _reference(event.data)
    claimed = _SUBMIT_KEY.match(event.routing_key or "")
    if claimed is None or claimed["agency"] != agency.code:
        _reject(uow, agency, event, reference, received_at, "agency_mismatch", {"routing_key": ["agency_mismatch"]})
        return
    try:
        submission = instance(PartnerReferralIn).load(event.data)
    except ValidationError as exc:
        _reject(uow, agency, event, reference, received_at, "validation_failed", flatten_errors(exc.messages))
        return
    try:
        transfer, case = receive(uow, agency, submission, channel="broker", received_at=received_at,
                                 message_id=event.id, sent_at=event.time)
    except Refused as refused:
        _reject(uow, agency, event, reference, received_at, refused.code, refused.fields)
        return
    uow.emit(REFERRAL_ACCEPTED.type, answer(transfer, case), agency=agency.code, correlation_id=event.id)


def _reference(data: dict) -> str | None:
    """The agency's own reference, if it is usable as one, to name in the answer."""
    reference = data.get("partner_reference")
    return reference if isinstance(reference, str) and 0 < len(reference) <= 64 else None


def _reject(uow: UnitOfWork, agency: PartnerAgency, event: Envelope, reference: str | None,
            received_at: datetime, reason: str, fields: dict[str, list[str]]) -> None:
    now = utcnow()
    problems = [{"field": path, "code": code, "message": message(code, DEFAULT_LANGUAGE)}
                for path, codes in sorted(fields.items()) for code in codes]
    uow.session.add(PartnerTransfer(
        id=new_id(), agency=agency.code, partner_reference=reference, channel="broker", message_id=event.id,
        sent_at=event.time, received_at=received_at, answered_at=now, outcome="rejected", reason=reason,
        errors={path: list(codes) for path, codes in fields.items()}))
    uow.emit(REFERRAL_REJECTED.type, {"partner_reference": reference, "reason": reason, "errors": problems,
                                      "received_at": received_at, "answered_at": now},
             agency=agency.code, correlation_id=event.id)
