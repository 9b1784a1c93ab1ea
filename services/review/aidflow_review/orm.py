"""Review's tables: one review per case, its beneficiaries, and the decision with its awards."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text, UniqueConstraint
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

    beneficiaries: Mapped[list["ReviewBeneficiary"]] = relationship(order_by="ReviewBeneficiary.beneficiary_id")
    decision: Mapped["Decision | None"] = relationship(uselist=False)


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

    awards: Mapped[list["Award"]] = relationship(order_by="Award.beneficiary_id")


class Award(Base):
    __tablename__ = "award"
    __table_args__ = (UniqueConstraint("decision_id", "beneficiary_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    decision_id: Mapped[str] = mapped_column(ForeignKey("decision.id"), index=True)
    beneficiary_id: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
