"""Funds: where the money comes from, how it is held for a payout, and asking for more.

A fund is one source's money for one year: the finance bureau's budget (财政预算), the
political-legal committee's special fund (政法委专项资金), or a superior procuratorate's money for
joint aid. A payout is paid from a fund of the year in which its money is reserved (Beijing
time), the oldest such fund that holds enough first. When none does, the payout waits and a
finance officer can ask the finance bureau for the shortfall (资金申请); the allocation that
answers the request names it, and pays what was waiting.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from aidflow_payout import ledger
from aidflow_payout.dossier import record
from aidflow_payout.errors import Refused
from aidflow_payout.orm import Fund, FundRequest, Payout
from aidflow_shared.calendar import BEIJING
from aidflow_shared.contracts.catalogue import FUND_REQUESTED
from aidflow_shared.storage import UnitOfWork, new_id, utcnow

FINANCE_BUREAU = "finance-bureau"  # the agency code the requests go to


def budget_year(at: datetime | None = None) -> int:
    return (at or utcnow()).astimezone(BEIJING).year


def lock(uow: UnitOfWork, query):
    """``query`` with a row lock on PostgreSQL; SQLite's writing transaction already holds the
    database's write lock (BEGIN IMMEDIATE)."""
    return query.with_for_update() if uow.db.dialect == "postgresql" else query


def allocate(uow: UnitOfWork, fund: Fund, amount_fen: int, *, reference: str | None, fund_request_id: str | None,
             actor: str) -> None:
    """Add money to ``fund``; if it answers a fund request, count it against the request."""
    request = None
    if fund_request_id:
        request = uow.session.scalars(lock(uow, select(FundRequest).where(FundRequest.id == fund_request_id))).first()
        if request is None:
            raise Refused("validation_failed", {"fund_request_id": ["unknown_fund_request"]})
        if (request.year, request.source) != (fund.year, fund.source):
            raise Refused("validation_failed", {"fund_request_id": ["fund_request_mismatch"]})
    ledger.post(uow, fund.id, "allocation", amount_fen, reference=reference, fund_request_id=fund_request_id,
                actor=actor)
    if request is not None:
        request.allocated_fen += amount_fen
        if request.status == "open" and request.allocated_fen >= request.amount_fen:
            request.status, request.answered_at = "answered", utcnow()


def reserve(uow: UnitOfWork, payout: Payout) -> bool:
    """Hold the payout's money in the oldest fund of this year that has it; False if none has.

    Each fund is tried with a conditional update that refuses to go below zero, in a fixed
    order, so concurrent reservations on several instances queue on the row and never overdraw.
    """
    amount = payout.amount_fen
    funds = uow.session.scalars(select(Fund.id).where(Fund.year == budget_year(), Fund.available_fen >= amount)
                                .order_by(Fund.created_at, Fund.id)).all()
    for fund_id in funds:
        try:
            ledger.post(uow, fund_id, "reservation", amount, payout_id=payout.id, case_id=payout.case_id)
        except ledger.InsufficientBalance:
            continue  # another instance took it first
        payout.fund_id, payout.status, payout.reserved_at = fund_id, "reserved", utcnow()
        record(uow, payout, "reserved", "system", fund_id=fund_id, amount_fen=amount)
        return True
    return False


def shortfall(session, year: int) -> tuple[int, int, int]:
    """(payouts waiting, fen they wait for, fen available in the year's funds)."""
    count, waiting = session.execute(select(func.count(), func.coalesce(func.sum(Payout.amount_fen), 0))
                                     .where(Payout.status == "awaiting_funds")).one()
    available = session.scalar(select(func.coalesce(func.sum(Fund.available_fen), 0)).where(Fund.year == year))
    return int(count), int(waiting), int(available)


def request_funds(uow: UnitOfWork, *, year: int, source: str, amount_fen: int | None, reason: str | None,
                  actor: str) -> FundRequest:
    """Record a request for money and, for the finance bureau's budget, send it to the bureau.

    Without an amount, the request is for the shortfall: what waiting payouts need beyond what
    the year's funds hold."""
    count, waiting, available = shortfall(uow.session, year)
    if amount_fen is None:
        amount_fen = waiting - available
        if amount_fen <= 0:
            raise Refused("nothing_short", {"amount_fen": ["required"]})
    now = utcnow()
    request = FundRequest(id=new_id(), year=year, source=source, amount_fen=amount_fen, reason=reason, status="open",
                          allocated_fen=0, requested_by=actor, requested_at=now)
    uow.session.add(request)
    if source == "finance_bureau":
        uow.emit(FUND_REQUESTED.type, {"request_id": request.id, "year": year, "source": source,
                                       "amount_fen": amount_fen, "awaiting_payouts": count, "awaiting_fen": waiting,
                                       "reason": reason, "requested_at": now}, agency=FINANCE_BUREAU)
    return request
