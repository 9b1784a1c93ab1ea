"""Leads (线索): possible cases seen in the media or on village and household visits.

A lead is not a case. It waits, unverified, until staff either verify it, which opens the case
(once: a lead promoted twice is refused), or dismiss it with a reason. An unverified lead emits
nothing, so no review clock ever starts for it.
"""
from __future__ import annotations

from aidflow_intake.cases import Opened, Refused, register_case
from aidflow_intake.orm import Lead
from aidflow_shared.storage import UnitOfWork, new_id, utcnow


def record_lead(uow: UnitOfWork, lead: dict, *, reported_by: str) -> Lead:
    now = utcnow()
    row = Lead(id=new_id(), channel=lead["channel"], summary=lead["summary"], location=lead.get("location"),
               reference=lead.get("reference"), criminal_case_ref=lead.get("criminal_case_ref"),
               received_at=lead.get("received_at") or now, reported_by=reported_by, status="unverified")
    uow.session.add(row)
    return row


def _still_open(lead: Lead) -> None:
    if lead.status == "promoted":
        raise Refused(409, "lead_already_promoted")
    if lead.status == "dismissed":
        raise Refused(409, "lead_dismissed")


def promote_lead(uow: UnitOfWork, lead: Lead, verified: dict, *, verified_by: str) -> Opened:
    """Staff verified the lead: it becomes a case with source ``lead``."""
    _still_open(lead)
    referral = {**verified, "source": "lead",
                "criminal_case_ref": verified.get("criminal_case_ref") or lead.criminal_case_ref,
                "summary": verified.get("summary") or lead.summary}
    opened = register_case(uow, referral, registered_by=verified_by, lead=lead)
    lead.status, lead.decided_by, lead.decided_at = "promoted", verified_by, utcnow()
    lead.verification_note = verified["verification_note"]
    return opened


def dismiss_lead(lead: Lead, reason: str, *, dismissed_by: str) -> None:
    _still_open(lead)
    lead.status, lead.decided_by, lead.decided_at, lead.dismissal_reason = "dismissed", dismissed_by, utcnow(), reason
