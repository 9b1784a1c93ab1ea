"""Payout's tables: funds, the ledger (台账) of money movements, and payouts."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from aidflow_shared.storage import UTCDateTime, new_id, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


class Fund(Base):
    """Budgeted money of one source for one year. Its row is locked while money moves."""

    __tablename__ = "fund"
    __table_args__ = (UniqueConstraint("source", "year", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer)
    # Running totals kept with the ledger in the same transaction; the ledger is the record.
    allocated_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def available_fen(self) -> int:
        return self.allocated_fen - self.paid_fen


class LedgerEntry(Base):
    """One append-only line of the ledger (台账)."""

    __tablename__ = "ledger_entry"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    fund_id: Mapped[str] = mapped_column(ForeignKey("fund.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # allocation | disbursement
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    payout_id: Mapped[str | None] = mapped_column(String(36))
    reference: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Payout(Base):
    """Aid for one beneficiary of one decision: never more than one."""

    __tablename__ = "payout"
    __table_args__ = (UniqueConstraint("decision_id", "beneficiary_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    decision_id: Mapped[str] = mapped_column(String(36))
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    beneficiary_id: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), index=True)  # awaiting_funds | disbursed
    method: Mapped[str] = mapped_column(String(16), default="bank_transfer")
    fund_id: Mapped[str | None] = mapped_column(ForeignKey("fund.id"))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disbursed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
