"""Opening a case from a referral: persons recognised across sources, one case per person and
criminal case, and the ``case.opened`` event in the same transaction."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from aidflow_intake import identity
from aidflow_intake.orm import Beneficiary, Case, CaseHistory, Person
from aidflow_shared.contracts.catalogue import CASE_OPENED
from aidflow_shared.storage import UnitOfWork, new_id, utcnow

OPEN_STATUSES = ("open", "under_review", "approved")
# Events from different services can arrive out of order; a case's status only moves forward.
PROGRESS = {"open": 0, "under_review": 1, "approved": 2, "rejected": 2, "paid": 3, "in_followup": 4}


class DuplicateCase(Exception):
    """The same person already has an open case for the same criminal case."""

    def __init__(self, case_number: str, position: int):
        super().__init__(case_number)
        self.case_number = case_number
        self.position = position


@dataclass
class Opened:
    case: Case
    warnings: list[dict] = field(default_factory=list)


def new_case_number(today: date) -> str:
    return f"JZ{today:%Y%m%d}-{secrets.token_hex(3).upper()}"


def open_case(uow: UnitOfWork, referral: dict, *, source_agency: str | None) -> Opened:
    session = uow.session
    now = utcnow()
    criminal_case_ref = referral.get("criminal_case_ref")
    case = Case(
        id=new_id(), case_number=new_case_number(now.date()), source=referral["source"], source_agency=source_agency,
        stage=referral.get("stage"), criminal_case_ref=criminal_case_ref,
        track="urgent_medical" if referral.get("urgent_medical") else "standard",
        status="open", summary=referral.get("summary"), opened_at=now, updated_at=now,
    )
    session.add(case)
    warnings = []
    for position, entry in enumerate(referral["beneficiaries"]):
        person, known = _recognise(session, entry)
        if known:  # say so now, at creation, not later
            earlier = _cases_of(session, person.id)
            if criminal_case_ref:
                for other in earlier:
                    if other.criminal_case_ref == criminal_case_ref and other.status in OPEN_STATUSES:
                        raise DuplicateCase(other.case_number, position)
            if earlier:
                warnings.append({"code": "person_known", "beneficiary": position,
                                 "case_numbers": [c.case_number for c in earlier]})
        else:
            session.add(person)
            session.flush()
        birth = person.birth_date
        case.beneficiaries.append(Beneficiary(
            person_id=person.id, position=position, relationship_to_victim=entry["relationship"],
            is_minor=identity.is_minor(birth, now.date())))
    session.add(CaseHistory(case_id=case.id, status="open", note=f"source {referral['source']}", at=now))
    session.flush()
    uow.emit(CASE_OPENED.type, {
        "case_id": case.id, "case_number": case.case_number, "source": case.source,
        "source_agency": source_agency, "track": case.track, "criminal_case_ref": criminal_case_ref,
        "beneficiaries": [{"beneficiary_id": b.id, "person_ref": b.person_id, "is_minor": b.is_minor,
                           "relationship": b.relationship_to_victim} for b in case.beneficiaries],
        "opened_at": now,
    }, subject=case.id)
    return Opened(case, warnings)


def _recognise(session, entry: dict) -> tuple[Person, bool]:
    """The stored person with this document (True), or a new unsaved one (False)."""
    id_number = identity.normalise(entry["id_number"])
    existing = session.scalars(select(Person).where(
        Person.id_type == entry["id_type"], Person.id_number == id_number)).first()
    if existing:
        return existing, True
    return Person(name=entry["name"], id_type=entry["id_type"], id_number=id_number,
                  birth_date=entry.get("birth_date"), phone=entry.get("phone")), False


def _cases_of(session, person_id: str) -> list[Case]:
    return list(session.scalars(select(Case).join(Beneficiary).where(Beneficiary.person_id == person_id)
                                .order_by(Case.opened_at)))


def record_progress(uow: UnitOfWork, case_id: str, status: str, event_type: str, note: str | None = None) -> None:
    """Keep intake's view of where a case is, from the other services' events."""
    case = uow.session.get(Case, case_id)
    if case is None:
        raise LookupError(f"case {case_id} unknown to intake")
    now = utcnow()
    if PROGRESS[status] > PROGRESS.get(case.status, 0):
        case.status = status
    case.updated_at = now
    uow.session.add(CaseHistory(case_id=case.id, status=status, event_type=event_type, note=note, at=now))
