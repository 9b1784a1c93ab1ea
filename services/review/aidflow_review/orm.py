"""Review's tables: one review per case, its beneficiaries, the proposals with their approvals,
and the decision with its awards."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from aidflow_shared.storage import UTCDateTime, new_id, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


class Review(Base):
    """One review per case: ``awaiting_acceptance`` once the case is registered, ``open`` from
    its acceptance (受理, when the review clock starts), ``decided`` once decided."""

    __tablename__ = "review"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(String(36), unique=True)
    case_number: Mapped[str] = mapped_column(String(32))
    track: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), index=True, default="open")
    source: Mapped[str | None] = mapped_column(String(32))
    eligibility_situation: Mapped[str | None] = mapped_column(String(32))
    victim_deceased: Mapped[bool] = mapped_column(default=False)
    documents_complete: Mapped[bool | None] = mapped_column()
    migrated: Mapped[bool] = mapped_column(default=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)  # created here
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why the review clock is paused: the case waits for the applicant (documents to follow).
    waiting_reason: Mapped[str | None] = mapped_column(String(500))

    beneficiaries: Mapped[list["ReviewBeneficiary"]] = relationship(order_by="ReviewBeneficiary.beneficiary_id")
    decision: Mapped["Decision | None"] = relationship(uselist=False)
    proposals: Mapped[list["Proposal"]] = relationship(order_by="Proposal.proposed_at")


class ReviewBeneficiary(Base):
    __tablename__ = "review_beneficiary"
    __table_args__ = (UniqueConstraint("review_id", "beneficiary_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    review_id: Mapped[str] = mapped_column(ForeignKey("review.id"), index=True)
    beneficiary_id: Mapped[str] = mapped_column(String(64))
    person_ref: Mapped[str] = mapped_column(String(64))
    is_minor: Mapped[bool] = mapped_column(default=False)
    relationship_to_victim: Mapped[str | None] = mapped_column(String(32))
    poverty_markers: Mapped[list] = mapped_column(JSON, default=list)
    urgent_medical_need: Mapped[bool] = mapped_column(default=False)


class Decision(Base):
    __tablename__ = "decision"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    review_id: Mapped[str] = mapped_column(ForeignKey("review.id"), unique=True)
    outcome: Mapped[str] = mapped_column(String(16))
    total_fen: Mapped[int] = mapped_column(BigInteger)
    reason_code: Mapped[str | None] = mapped_column(String(64))
    explanation: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The proposal whose approval chain made this decision (none for decisions made before it).
    proposal_id: Mapped[str | None] = mapped_column(ForeignKey("proposal.id"))
    proposed_by: Mapped[str | None] = mapped_column(String(100))
    joint_aid: Mapped[bool] = mapped_column(Boolean, default=False)
    # An advance payment (先行救助): paid first, its paperwork completed after.
    advance: Mapped[bool] = mapped_column(Boolean, default=False)
    paperwork: Mapped[dict | None] = mapped_column(JSON)
    paperwork_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paperwork_completed_by: Mapped[str | None] = mapped_column(String(100))

    awards: Mapped[list["Award"]] = relationship(order_by="Award.beneficiary_id")


class Award(Base):
    __tablename__ = "award"
    __table_args__ = (UniqueConstraint("decision_id", "beneficiary_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    decision_id: Mapped[str] = mapped_column(ForeignKey("decision.id"), index=True)
    beneficiary_id: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class Proposal(Base):
    """A handler's proposed decision with its recorded reasoning, waiting for its approvals.

    ``pending`` until its chain of approvals is complete (``approved``: the decision is recorded)
    or an approver sends it back (``returned``: the handler may propose again).
    """

    __tablename__ = "proposal"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    review_id: Mapped[str] = mapped_column(ForeignKey("review.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")
    outcome: Mapped[str] = mapped_column(String(16))
    advance: Mapped[bool] = mapped_column(Boolean, default=False)
    # Eligibility as recorded reasoning: the art. 7 situation, every art. 8 exclusion as checked,
    # the evidence relied on; a rejection's reason code and the explanation owed to the applicant.
    situation: Mapped[str | None] = mapped_column(String(40))
    exclusions: Mapped[dict] = mapped_column(JSON, default=dict)
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    reason_code: Mapped[str | None] = mapped_column(String(64))
    explanation: Mapped[str | None] = mapped_column(Text)
    # Amounts per beneficiary with the verdict on each, the cap and what it rests on.
    awards: Mapped[list] = mapped_column(JSON, default=list)
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    cap: Mapped[dict | None] = mapped_column(JSON)
    special_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    joint_aid: Mapped[bool] = mapped_column(Boolean, default=False)
    joint_aid_with: Mapped[str | None] = mapped_column(String(100))  # the superior procuratorate
    required_levels: Mapped[list] = mapped_column(JSON, default=list)
    proposed_by: Mapped[str] = mapped_column(String(100))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    approvals: Mapped[list["Approval"]] = relationship(order_by="Approval.at")

    @property
    def next_level(self) -> str | None:
        """The level whose approval is awaited (None once the proposal is closed)."""
        if self.status != "pending":
            return None
        given = {a.level for a in self.approvals if a.verdict == "approved"}
        return next((level for level in self.required_levels if level not in given), None)


class Approval(Base):
    """One level's verdict on a proposal: approved, or returned to the handler with a note."""

    __tablename__ = "approval"
    __table_args__ = (UniqueConstraint("proposal_id", "level"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposal.id"), index=True)
    level: Mapped[str] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(16))
    approver: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(1000))
    # The office meeting's minutes or the superior procuratorate's document number.
    reference: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
