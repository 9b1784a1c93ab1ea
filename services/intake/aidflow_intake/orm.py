"""Intake's tables: persons (the only place personal data lives, and only sealed), cases with
their beneficiaries, documents and history, leads, partner agencies and their transfers."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from aidflow_shared.storage import UTCDateTime, new_id, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


class Person(Base):
    """A natural person. ``id`` is the opaque ``person_ref`` other services see.

    Name, ID number and phone are stored sealed (see :mod:`aidflow_intake.pii`); ``id_index``
    is the blind index that recognises the same document arriving from another source.
    """

    __tablename__ = "person"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name_sealed: Mapped[str] = mapped_column(Text)
    id_type: Mapped[str] = mapped_column(String(32))
    id_number_sealed: Mapped[str] = mapped_column(Text)
    id_index: Mapped[str] = mapped_column(String(64), unique=True)
    birth_date: Mapped[date | None] = mapped_column(Date)
    phone_sealed: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Case(Base):
    __tablename__ = "aid_case"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_number: Mapped[str] = mapped_column(String(32), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    source_agency: Mapped[str | None] = mapped_column(String(64))
    partner_reference: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str | None] = mapped_column(String(32))
    criminal_case_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    lead_id: Mapped[str | None] = mapped_column(ForeignKey("lead.id"), unique=True)
    # A family found back in hardship by follow-up (返困) is a new case, linked to the one before.
    rereferred_from_id: Mapped[str | None] = mapped_column(ForeignKey("aid_case.id"))
    # Applications: written or oral (recorded by a named member of staff), by the person or an agent.
    application_form: Mapped[str | None] = mapped_column(String(16))
    applicant: Mapped[str | None] = mapped_column(String(16))
    agent_kind: Mapped[str | None] = mapped_column(String(16))
    agent_person_id: Mapped[str | None] = mapped_column(ForeignKey("person.id"))
    recorded_by: Mapped[str | None] = mapped_column(String(100))
    eligibility_situation: Mapped[str | None] = mapped_column(String(32))
    situation_reason: Mapped[str | None] = mapped_column(String(500))
    victim_deceased: Mapped[bool] = mapped_column(Boolean, default=False)
    track: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), index=True)
    summary: Mapped[str | None] = mapped_column(Text)
    registered_by: Mapped[str] = mapped_column(String(100))
    # received: reached the procuratorate; opened: registered here; accepted: 受理, review starts.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by: Mapped[str | None] = mapped_column(String(100))
    acceptance_override_reason: Mapped[str | None] = mapped_column(String(500))
    migrated: Mapped[bool] = mapped_column(Boolean, default=False)  # entered from a paper ledger
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    beneficiaries: Mapped[list["Beneficiary"]] = relationship(back_populates="case", order_by="Beneficiary.position")
    documents: Mapped[list["CaseDocument"]] = relationship(order_by="CaseDocument.received_at")
    history: Mapped[list["CaseHistory"]] = relationship(order_by="CaseHistory.at")
    transfers: Mapped[list["PartnerTransfer"]] = relationship(order_by="PartnerTransfer.received_at")
    agent: Mapped["Person | None"] = relationship()


class Beneficiary(Base):
    __tablename__ = "beneficiary"
    __table_args__ = (UniqueConstraint("case_id", "person_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("aid_case.id"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    relationship_to_victim: Mapped[str] = mapped_column(String(32))
    is_minor: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_poor_household: Mapped[bool] = mapped_column(Boolean, default=False)  # 建档立卡
    impoverished_by_case: Mapped[bool] = mapped_column(Boolean, default=False)  # 因案致贫
    returned_to_poverty_by_case: Mapped[bool] = mapped_column(Boolean, default=False)  # 因案返贫
    urgent_medical_need: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(32), default="open")

    case: Mapped[Case] = relationship(back_populates="beneficiaries")
    person: Mapped[Person] = relationship()


class CaseClaim(Base):
    """One open case per person and criminal case, held by the database, not by a read.

    A row exists while a case of that person in that criminal case is open or was aided; it goes
    when the case is rejected. Two referrals racing for the same person and criminal case
    collide on the primary key, and only one commits.
    """

    __tablename__ = "case_claim"

    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), primary_key=True)
    criminal_case_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("aid_case.id"), index=True)


class CaseDocument(Base):
    """A document received for a case; ``beneficiary_id`` when it concerns one person."""

    __tablename__ = "case_document"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("aid_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    beneficiary_id: Mapped[str | None] = mapped_column(ForeignKey("beneficiary.id"))
    reference: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recorded_by: Mapped[str] = mapped_column(String(100))


class CaseHistory(Base):
    """What happened to a case, as intake learned it from every service's events."""

    __tablename__ = "case_history"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("aid_case.id"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Lead(Base):
    """A possible case seen in the media or on a village visit; staff verify it before it is one."""

    __tablename__ = "lead"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(200))
    criminal_case_ref: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True, default="unverified")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reported_by: Mapped[str] = mapped_column(String(100))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verification_note: Mapped[str | None] = mapped_column(String(1000))
    dismissal_reason: Mapped[str | None] = mapped_column(String(500))

    case: Mapped["Case | None"] = relationship(primaryjoin="Lead.id == foreign(Case.lead_id)", viewonly=True,
                                               uselist=False)


class PartnerAgency(Base):
    """The registry of partner agencies and the broker user each one publishes as."""

    __tablename__ = "partner_agency"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    broker_user: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PartnerTransfer(Base):
    """One transfer received from a partner agency and intake's answer to it.

    ``received_at`` and ``answered_at`` are what the 5-working-day transfer clock measures;
    ``errors`` keeps field paths and codes of a rejection, never the submitted values.
    """

    __tablename__ = "partner_transfer"
    __table_args__ = (
        # One case per agency reference: a reference sent again is answered with the same case.
        Index("uq_partner_transfer_accepted_reference", "agency", "partner_reference", unique=True,
              postgresql_where=text("outcome = 'accepted'"), sqlite_where=text("outcome = 'accepted'")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    agency: Mapped[str] = mapped_column(ForeignKey("partner_agency.code"))
    partner_reference: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))  # "broker" or "http"
    message_id: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # as the agency stated it
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16))  # accepted, repeated or rejected
    reason: Mapped[str | None] = mapped_column(String(64))
    errors: Mapped[dict | None] = mapped_column(JSON)
    case_id: Mapped[str | None] = mapped_column(ForeignKey("aid_case.id"), index=True)
