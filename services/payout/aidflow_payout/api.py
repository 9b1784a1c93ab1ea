"""Payout's HTTP API: funds and their allocations, payouts."""
from __future__ import annotations

from flask import Blueprint, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from aidflow_payout.money import allocate
from aidflow_payout.orm import Fund, Payout
from aidflow_payout.schemas import AllocationIn, FundIn, FundListOut, FundOut, PayoutListOut, PayoutOut
from aidflow_shared.http.auth import require
from aidflow_shared.http.errors import ApiError, load_json
from aidflow_shared.http.openapi import doc
from aidflow_shared.http.params import page

MONEY_READERS = ("finance_officer", "chief_procurator", "department_head", "auditor")


def payout_blueprint(runtime) -> Blueprint:
    bp = Blueprint("payout", __name__, url_prefix="/api/v1")

    @bp.post("/funds")
    @require("finance_officer")
    @doc(request=FundIn, response=FundOut, status=201, tags=["funds"])
    def create_fund():
        """Open a fund: one source of money for one year."""
        body = load_json(FundIn)
        try:
            with runtime.unit_of_work() as uow:
                fund = Fund(**body)
                uow.session.add(fund)
                uow.commit()
        except IntegrityError:
            raise ApiError(409, "conflict", {"name": ["duplicate"]}) from None
        return FundOut().dump(fund), 201, {"Location": f"/api/v1/funds/{fund.id}"}

    @bp.get("/funds")
    @require(*MONEY_READERS)
    @doc(response=FundListOut, tags=["funds"])
    def list_funds():
        """Funds with their balances."""
        with runtime.db.sessions() as session:
            return FundListOut().dump({"items": session.scalars(select(Fund).order_by(Fund.year, Fund.name)).all()})

    @bp.post("/funds/<fund_id>/allocations")
    @require("finance_officer")
    @doc(request=AllocationIn, response=FundOut, status=201, tags=["funds"])
    def allocate_to_fund(fund_id: str):
        """Add allocated money to a fund; payouts awaiting funds are paid from it at once."""
        body = load_json(AllocationIn)
        with runtime.unit_of_work() as uow:
            query = select(Fund).where(Fund.id == fund_id)
            if runtime.db.dialect == "postgresql":
                query = query.with_for_update()
            fund = uow.session.scalars(query).first()
            if fund is None:
                raise ApiError(404, "not_found")
            allocate(uow, fund, body["amount_fen"], body.get("reference"))
            uow.commit()
        return FundOut().dump(fund), 201

    @bp.get("/payouts")
    @require(*MONEY_READERS)
    @doc(response=PayoutListOut, tags=["payouts"])
    def list_payouts():
        """Payouts, newest first; filter by ``case_id`` and ``status``."""
        limit, offset = page()
        query = select(Payout)
        for name in ("case_id", "status"):
            if request.args.get(name):
                query = query.where(getattr(Payout, name) == request.args[name])
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            items = session.scalars(query.order_by(Payout.approved_at.desc()).limit(limit).offset(offset)).all()
            return PayoutListOut().dump({"items": items, "total": total})

    @bp.get("/payouts/<payout_id>")
    @require(*MONEY_READERS)
    @doc(response=PayoutOut, tags=["payouts"])
    def get_payout(payout_id: str):
        """One payout."""
        with runtime.db.sessions() as session:
            payout = session.get(Payout, payout_id)
            if payout is None:
                raise ApiError(404, "not_found")
            return PayoutOut().dump(payout)

    return bp
