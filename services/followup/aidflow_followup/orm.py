"""Follow-up's tables: one aid + assistance plan per beneficiary of a case."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from aidflow_shared.storage import UTCDateTime, new_id, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


class Plan(Base):
    """A follow-up plan (救助+帮扶): opened when aid is paid, kept for years."""

    __tablename__ = "plan"
    __table_args__ = (UniqueConstraint("case_id", "beneficiary_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    beneficiary_id: Mapped[str] = mapped_column(String(64))
    payout_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), index=True, default="open")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
