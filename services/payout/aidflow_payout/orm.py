"""Payout's tables: funds and their ledger (台账), payouts and how they are paid, and the dossier.

Money is integer fen everywhere. The ledger is append-only (the migration forbids UPDATE and
DELETE on it); a fund row carries running balances kept with the ledger in the same transaction,
and the database itself refuses a negative balance or an unbalanced fund (CHECK constraints).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from aidflow_shared.storage import UTCDateTime, new_id, new_metadata, utcnow

SERIAL = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only


class Base(DeclarativeBase):
    metadata = new_metadata()


class Fund(Base):
    """Money of one source for one year, with its balances. Its row is locked while money moves.

    For every fund, at every moment: allocated = available + reserved + paid + recovered.
    """

    __tablename__ = "fund"
    __table_args__ = (
        UniqueConstraint("source", "year", "name"),
        CheckConstraint("available_fen >= 0", name="available_not_negative"),
        CheckConstraint("reserved_fen >= 0", name="reserved_not_negative"),
        CheckConstraint("paid_fen >= 0", name="paid_not_negative"),
        CheckConstraint("recovered_fen >= 0", name="recovered_not_negative"),
        CheckConstraint("allocated_fen = available_fen + reserved_fen + paid_fen + recovered_fen", name="balanced"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer)
    allocated_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    available_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    recovered_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LedgerLine(Base):
    """One line of the ledger (台账): ``amount_fen`` moves from account ``credit`` to ``debit``.

    Accounts of a fund: ``allocations`` (where money comes from), ``available``, ``reserved``,
    ``paid`` and ``recovered``. Every line is balanced by construction (double entry), so the sum
    of a fund's accounts is always zero: allocations = available + reserved + paid + recovered.
    """

    __tablename__ = "ledger_line"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("debit <> credit", name="two_accounts"),
        Index("ix_ledger_line_fund", "fund_id", "id"),
    )

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    fund_id: Mapped[str] = mapped_column(ForeignKey("fund.id"))
    kind: Mapped[str] = mapped_column(String(16))  # allocation | reservation | void | disbursement | recovery
    debit: Mapped[str] = mapped_column(String(16))
    credit: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    payout_id: Mapped[str | None] = mapped_column(String(36), index=True)
    case_id: Mapped[str | None] = mapped_column(String(36))
    instruction_id: Mapped[str | None] = mapped_column(String(36))
    fund_request_id: Mapped[str | None] = mapped_column(String(36))
    reference: Mapped[str | None] = mapped_column(String(100))
    actor: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class FundRequest(Base):
    """A request to the finance bureau for money (资金申请), and how much its allocations brought."""

    __tablename__ = "fund_request"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    year: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | answered
    allocated_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Decision(Base):
    """A decision review recorded, approved or not: what a disbursement may refer to."""

    __tablename__ = "decision"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    total_fen: Mapped[int] = mapped_column(BigInteger)
    advance: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Payout(Base):
    """Aid for one beneficiary of one decision: never more than one (the unique constraint)."""

    __tablename__ = "payout"
    __table_args__ = (
        UniqueConstraint("decision_id", "beneficiary_id"),
        CheckConstraint("paid_fen <= amount_fen", name="not_overpaid"),
        CheckConstraint("recovered_fen <= paid_fen", name="recovered_within_paid"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    decision_id: Mapped[str] = mapped_column(String(36))
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    beneficiary_id: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    # awaiting_funds | reserved | in_escrow | disbursed | cancelled
    status: Mapped[str] = mapped_column(String(16), index=True)
    method: Mapped[str] = mapped_column(String(16), default="bank_transfer")  # bank_transfer | cash | escrow
    kind: Mapped[str] = mapped_column(String(16), default="standard")  # standard | advance (先行救助)
    fund_id: Mapped[str | None] = mapped_column(ForeignKey("fund.id"))
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    recovered_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reserved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disbursed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # first money out
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # last money out
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    failure: Mapped[str | None] = mapped_column(String(64))  # the bank's last refusal, until paid
    paperwork_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # advances only


class Instruction(Base):
    """One order to pay (a transfer, a cash handover, an escrow instalment) with its own
    idempotency key, so that the bank executes it at most once however often it is sent.

    At most one live instruction (not rejected or cancelled) per payout and instalment.
    """

    __tablename__ = "instruction"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("uq_instruction_live", "payout_id", "instalment", unique=True,
              postgresql_where=text("status NOT IN ('rejected', 'cancelled')"),
              sqlite_where=text("status NOT IN ('rejected', 'cancelled')")),
        Index("ix_instruction_work", "status", "due_on"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    payout_id: Mapped[str] = mapped_column(ForeignKey("payout.id"), index=True)
    instalment: Mapped[int] = mapped_column(Integer, default=0)  # 0: paid whole; 1..n: escrow instalments
    method: Mapped[str] = mapped_column(String(16))  # bank_transfer | cash | escrow
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    due_on: Mapped[date | None] = mapped_column(Date)  # escrow instalments: not before this day (Beijing)
    # scheduled | pending | sending | unknown | accepted | rejected | cancelled
    status: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    payee_kind: Mapped[str] = mapped_column(String(16))  # registered | account | cash
    payee_holder: Mapped[str | None] = mapped_column(Text)  # sealed
    payee_account: Mapped[str | None] = mapped_column(Text)  # sealed
    payee_account_index: Mapped[str | None] = mapped_column(String(64), index=True)  # blind index
    payee_bank: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    bank_reference: Mapped[str | None] = mapped_column(String(64))
    failure: Mapped[str | None] = mapped_column(String(64))
    receipt_number: Mapped[str | None] = mapped_column(String(64))
    receipt_signer: Mapped[str | None] = mapped_column(Text)  # sealed
    receipt_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    receipt_sha256: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BankAnswer(Base):
    """Every answer the bank gave about an instruction, including the repeated ones."""

    __tablename__ = "bank_answer"

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    instruction_id: Mapped[str] = mapped_column(ForeignKey("instruction.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # accepted | rejected
    bank_reference: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16))  # submit | status | notification
    applied: Mapped[bool] = mapped_column(Boolean)  # False: it repeated what was already known
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Recovery(Base):
    """Money recovered (追回) from a beneficiary (fraud) or from the liable party, back into the fund."""

    __tablename__ = "recovery"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    payout_id: Mapped[str] = mapped_column(ForeignKey("payout.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))  # fraud | liable_party_paid | overpaid_advance | other
    reference: Mapped[str | None] = mapped_column(String(100))
    recovered_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Notification(Base):
    """The applicant was told the money is paid (or coming): how and when."""

    __tablename__ = "notification"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    payout_id: Mapped[str] = mapped_column(ForeignKey("payout.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # sms | phone | letter | in_person | other
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Activity(Base):
    """The dossier's trail (卷宗): who did what to a case's money, when. Never personal data."""

    __tablename__ = "activity"

    id: Mapped[int] = mapped_column(SERIAL, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    payout_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdempotentRequest(Base):
    """An HTTP request made with an ``Idempotency-Key``: its body's hash and the answer it got."""

    __tablename__ = "idempotent_request"

    subject: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)  # None while the first request runs
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
