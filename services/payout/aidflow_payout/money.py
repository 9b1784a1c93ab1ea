"""Moving money: allocations into funds, disbursements out of them, never below zero.

A payout is created once per (decision, beneficiary). It is paid from a fund of the current
year that holds enough; with none, it waits as ``awaiting_funds`` and is paid, oldest first,
when an allocation arrives. The fund row is locked while its balance is read and changed, so
concurrent approvals on several instances cannot overdraw it.
"""
from __future__ import annotations

from sqlalchemy import select

from aidflow_payout.orm import Fund, LedgerEntry, Payout
from aidflow_shared.contracts.catalogue import PAYOUT_DISBURSED
from aidflow_shared.storage import UnitOfWork, new_id, utcnow


def _locked(uow: UnitOfWork, query):
    if uow.db.dialect == "postgresql":
        query = query.with_for_update()
    return query  # SQLite: the transaction already holds the write lock (BEGIN IMMEDIATE)


def create_payouts(uow: UnitOfWork, decision: dict) -> list[Payout]:
    """Payouts for an approved decision; a redelivered decision finds them made."""
    created = []
    for award in decision["awards"]:
        exists = uow.session.scalars(select(Payout).where(
            Payout.decision_id == decision["decision_id"], Payout.beneficiary_id == award["beneficiary_id"])).first()
        if exists:
            continue
        payout = Payout(id=new_id(), decision_id=decision["decision_id"], case_id=decision["case_id"],
                        beneficiary_id=award["beneficiary_id"], amount_fen=award["amount_fen"],
                        status="awaiting_funds", approved_at=utcnow())
        uow.session.add(payout)
        uow.session.flush()
        disburse(uow, payout)
        created.append(payout)
    return created


def disburse(uow: UnitOfWork, payout: Payout) -> bool:
    """Pay ``payout`` from a fund that holds enough; False (still awaiting funds) if none does."""
    year = utcnow().year
    funds = uow.session.scalars(_locked(uow, select(Fund).where(Fund.year == year).order_by(Fund.created_at))).all()
    fund = next((f for f in funds if f.available_fen >= payout.amount_fen), None)
    if fund is None:
        return False
    now = utcnow()
    fund.paid_fen += payout.amount_fen
    uow.session.add(LedgerEntry(fund_id=fund.id, kind="disbursement", amount_fen=payout.amount_fen,
                                payout_id=payout.id, at=now))
    payout.status = "disbursed"
    payout.fund_id = fund.id
    payout.disbursed_at = now
    uow.emit(PAYOUT_DISBURSED.type, {
        "payout_id": payout.id, "decision_id": payout.decision_id, "case_id": payout.case_id,
        "beneficiary_id": payout.beneficiary_id, "amount_fen": payout.amount_fen, "fund_id": fund.id,
        "method": payout.method, "disbursed_at": now,
    }, subject=payout.case_id)
    return True


def allocate(uow: UnitOfWork, fund: Fund, amount_fen: int, reference: str | None) -> list[Payout]:
    """Add money to a fund and pay what was waiting for it, oldest first."""
    fund.allocated_fen += amount_fen
    uow.session.add(LedgerEntry(fund_id=fund.id, kind="allocation", amount_fen=amount_fen, reference=reference))
    uow.session.flush()
    paid = []
    waiting = uow.session.scalars(select(Payout).where(Payout.status == "awaiting_funds")
                                  .order_by(Payout.approved_at)).all()
    for payout in waiting:
        if disburse(uow, payout):
            paid.append(payout)
    return paid
