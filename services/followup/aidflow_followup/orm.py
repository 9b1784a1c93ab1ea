"""Follow-up's tables: what it knows of each case, one aid + assistance plan per beneficiary, the
needs, consents and sealed contact details, hand-offs to partner agencies and their answers,
return visits, escalations and re-referrals."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from aidflow_shared.storage import UTCDateTime, new_id, new_metadata, utcnow

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    metadata = new_metadata()


class CaseFile(Base):
    """A case as follow-up knows it: facts from intake's acceptance, and whether follow-up is closed.

    Made by whichever comes first, the acceptance or the payout (events can be reordered by
    retries); ``facts_known`` says whether the acceptance has been read.
    """

    __tablename__ = "case_file"

    case_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_number: Mapped[str | None] = mapped_column(String(32))
    criminal_case_ref: Mapped[str | None] = mapped_column(String(64))
    track: Mapped[str] = mapped_column(String(16), default="standard")
    eligibility_situation: Mapped[str | None] = mapped_column(String(32))
    victim_deceased: Mapped[bool] = mapped_column(Boolean, default=False)
    facts_known: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), index=True, default="open")  # open | closed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    beneficiaries: Mapped[list["KnownBeneficiary"]] = relationship(back_populates="case")
    plans: Mapped[list["Plan"]] = relationship(back_populates="case", order_by="Plan.opened_at")
    closures: Mapped[list["Closure"]] = relationship(order_by="Closure.id")


class KnownBeneficiary(Base):
    """A beneficiary as intake described it at acceptance: an opaque ``person_ref``, no personal data."""

    __tablename__ = "known_beneficiary"

    beneficiary_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("case_file.case_id"), index=True)
    person_ref: Mapped[str] = mapped_column(String(64), index=True)
    is_minor: Mapped[bool] = mapped_column(Boolean)
    relationship_to_victim: Mapped[str | None] = mapped_column(String(32))
    poverty_markers: Mapped[list] = mapped_column(JSON, default=list)
    urgent_medical_need: Mapped[bool] = mapped_column(Boolean, default=False)

    case: Mapped[CaseFile] = relationship(back_populates="beneficiaries")


class Closure(Base):
    """Each closing and reopening of a case's follow-up, with its reason."""

    __tablename__ = "closure"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("case_file.case_id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # closed | reopened
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(1000))
    by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Plan(Base):
    """A follow-up plan (救助+帮扶): opened when aid is paid (or an advance approved), kept for years."""

    __tablename__ = "plan"
    __table_args__ = (UniqueConstraint("case_id", "beneficiary_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("case_file.case_id"), index=True)
    beneficiary_id: Mapped[str] = mapped_column(String(64))
    payout_id: Mapped[str | None] = mapped_column(String(36))
    decision_id: Mapped[str | None] = mapped_column(String(36))
    opened_on: Mapped[str] = mapped_column(String(16), default="payout")  # payout | advance
    status: Mapped[str] = mapped_column(String(16), index=True, default="open")  # open | closed
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_assessment_on: Mapped[date | None] = mapped_column(Date, index=True)
    psychological_state: Mapped[str | None] = mapped_column(String(16))
    relapsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    case: Mapped[CaseFile] = relationship(back_populates="plans")
    needs: Mapped[list["Need"]] = relationship(back_populates="plan", order_by="Need.service")
    assessments: Mapped[list["Assessment"]] = relationship(order_by="Assessment.assessed_at")
    consents: Mapped[list["Consent"]] = relationship(order_by="Consent.given_at")
    handoffs: Mapped[list["Handoff"]] = relationship(back_populates="plan", order_by="Handoff.requested_at")
    visits: Mapped[list["Visit"]] = relationship(back_populates="plan", order_by="Visit.due_on")
    rereferrals: Mapped[list["ReReferral"]] = relationship(order_by="ReReferral.requested_at")
    contact: Mapped["Contact | None"] = relationship(uselist=False)


class Need(Base):
    """One assistance service on a plan: needed, or how the need ended."""

    __tablename__ = "need"
    __table_args__ = (UniqueConstraint("plan_id", "service"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plan.id"), index=True)
    service: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(32))  # why it was found needed (a rule's code)
    note: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    plan: Mapped[Plan] = relationship(back_populates="needs")


class Assessment(Base):
    """A needs assessment: the first one at opening, then periodic or after a relapse."""

    __tablename__ = "assessment"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plan.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # initial | periodic | relapse
    assessed_by: Mapped[str] = mapped_column(String(100))
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    returned_to_hardship: Mapped[bool] = mapped_column(Boolean, default=False)
    psychological_state: Mapped[str | None] = mapped_column(String(16))
    needs: Mapped[dict] = mapped_column(JSON)  # service -> status, as assessed
    note: Mapped[str | None] = mapped_column(String(1000))


class Consent(Base):
    """What a person (or a minor's guardian) agreed to share with one agency; withdrawable."""

    __tablename__ = "consent"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plan.id"), index=True)
    agency: Mapped[str] = mapped_column(ForeignKey("partner_agency.code"))
    categories: Mapped[list] = mapped_column(JSON)
    given_by: Mapped[str] = mapped_column(String(16))  # person | guardian
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawal_reason: Mapped[str | None] = mapped_column(String(500))


class Contact(Base):
    """How to reach the person (and a minor's guardian), sealed with follow-up's own key."""

    __tablename__ = "contact"

    plan_id: Mapped[str] = mapped_column(ForeignKey("plan.id"), primary_key=True)
    name_sealed: Mapped[str] = mapped_column(Text)
    phone_sealed: Mapped[str | None] = mapped_column(Text)
    address_sealed: Mapped[str | None] = mapped_column(Text)
    guardian_name_sealed: Mapped[str | None] = mapped_column(Text)
    guardian_phone_sealed: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ContactAccess(Base):
    """Every attempt to read contact details through a hand-off: who, for which agency, granted or why not."""

    __tablename__ = "contact_access"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    handoff_id: Mapped[str] = mapped_column(String(64), index=True)
    plan_id: Mapped[str | None] = mapped_column(String(36), index=True)
    agency: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PartnerAgency(Base):
    """Follow-up's registry of partner agencies: the broker user each answers as, and whether it
    has a broker connection at all (``staff``: hand-offs go by letter or phone, staff record the answers)."""

    __tablename__ = "partner_agency"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    broker_user: Mapped[str | None] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(8))  # broker | staff
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Handoff(Base):
    """One hand-off (转介) of a person to an agency for a service, and where it stands."""

    __tablename__ = "handoff"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plan.id"), index=True)
    service: Mapped[str] = mapped_column(String(32))
    agency: Mapped[str] = mapped_column(ForeignKey("partner_agency.code"), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # broker | staff
    status: Mapped[str] = mapped_column(String(16), index=True)
    shared_categories: Mapped[list] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(String(500))
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledge_by: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str | None] = mapped_column(String(64))  # declined or withdrawn: why
    outcome: Mapped[dict | None] = mapped_column(JSON)  # completed: what the person received
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    plan: Mapped[Plan] = relationship(back_populates="handoffs")
    answers: Mapped[list["HandoffAnswer"]] = relationship(
        primaryjoin="Handoff.id == foreign(HandoffAnswer.handoff_id)", order_by="HandoffAnswer.id", viewonly=True)


class HandoffAnswer(Base):
    """Every answer received about a hand-off, recorded or refused, by whichever channel.

    ``handoff_id`` is what the answer named (perhaps no hand-off at all); ``errors`` keeps field
    paths and codes of a refusal, never the values sent.
    """

    __tablename__ = "handoff_answer"

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True, autoincrement=True)
    handoff_id: Mapped[str | None] = mapped_column(String(64), index=True)
    agency: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(8))  # broker | http | staff
    message_id: Mapped[str | None] = mapped_column(String(255))
    stated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    result: Mapped[str] = mapped_column(String(16))  # recorded | repeated | refused
    reason: Mapped[str | None] = mapped_column(String(64))
    errors: Mapped[dict | None] = mapped_column(JSON)
    recorded_by: Mapped[str | None] = mapped_column(String(100))


class Visit(Base):
    """A return visit (回访): scheduled from policy, or made when needed; its outcome once done."""

    __tablename__ = "visit"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plan.id"), index=True)
    months_after: Mapped[int | None] = mapped_column(Integer)  # None: not on the schedule
    due_on: Mapped[date | None] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # scheduled | done | cancelled
    visited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    method: Mapped[str | None] = mapped_column(String(16))
    living_situation: Mapped[str | None] = mapped_column(String(16))
    psychological_state: Mapped[str | None] = mapped_column(String(16))
    services_received: Mapped[list | None] = mapped_column(JSON)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    aware_of_aid: Mapped[bool | None] = mapped_column(Boolean)
    returned_to_hardship: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(String(1000))
    recorded_by: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(String(500))

    plan: Mapped[Plan] = relationship(back_populates="visits")


class Escalation(Base):
    """A deadline passed (a hand-off not acknowledged, a visit overdue): raised to the department head."""

    __tablename__ = "escalation"
    __table_args__ = (UniqueConstraint("stage", "subject_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    stage: Mapped[str] = mapped_column(String(16))  # handoff | visit
    subject_id: Mapped[str] = mapped_column(String(64))
    plan_id: Mapped[str] = mapped_column(ForeignKey("plan.id"), index=True)
    agency: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class ReReferral(Base):
    """A beneficiary back in hardship, referred to intake again, and intake's answer."""

    __tablename__ = "rereferral"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plan.id"), index=True)
    from_case_id: Mapped[str] = mapped_column(String(36))
    criminal_case_ref: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # requested | accepted | refused
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(String(64))
    new_case_id: Mapped[str | None] = mapped_column(String(36))
    new_case_number: Mapped[str | None] = mapped_column(String(32))
