"""Payout's HTTP API: funds and fund requests; payouts and how they are paid; the dossier, the
ledger and the reconciliation report.

Finance officers move money; the chief procurator, department heads and auditors read. Every
request that moves money may carry an ``Idempotency-Key`` (see :mod:`aidflow_payout.idempotency`).
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from aidflow_payout import funds, payouts
from aidflow_payout.bootstrap import context
from aidflow_payout.disbursement import instruct, send_now
from aidflow_payout.dossier import build as build_dossier, instruction_view
from aidflow_payout.errors import Refused
from aidflow_payout.idempotency import once
from aidflow_payout.orm import Decision, Fund, FundRequest, Instruction, Payout
from aidflow_payout.reports import ledger_csv, ledger_report, ledger_xlsx, reconciliation
from aidflow_payout.schemas import (AllocationIn, CancelIn, DisbursementIn, DisbursementOut, DossierOut, FundIn,
                                    FundListOut, FundOut, FundRequestIn, FundRequestListOut, FundRequestOut,
                                    LedgerLineOut, LedgerOut, NotificationIn, NotificationOut, PaperworkIn,
                                    PaperworkOut, PayoutListOut, PayoutOut, ReconciliationOut, RecoveryIn,
                                    RecoveryOut)
from aidflow_shared.http.auth import current_principal, require
from aidflow_shared.http.errors import ApiError, answer_refusals, load_json
from aidflow_shared.http.openapi import doc
from aidflow_shared.http.params import page
from aidflow_shared.i18n import pick_language
from aidflow_shared.schema import instance
from aidflow_shared.vault import VaultError

MOVERS = ("finance_officer",)
READERS = ("finance_officer", "chief_procurator", "department_head", "auditor")


def _locked(uow, model, object_id):
    row = uow.session.scalars(funds.lock(uow, select(model).where(model.id == object_id))).first()
    if row is None:
        raise ApiError(404, "not_found")
    return row


def _date_arg(name: str) -> date | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "validation_failed", {name: ["invalid_date"]}) from None


def funds_blueprint(runtime) -> Blueprint:
    bp = Blueprint("funds", __name__, url_prefix="/api/v1")
    answer_refusals(bp, Refused)
    ctx = context(runtime.db)

    @bp.post("/funds")
    @require(*MOVERS)
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
        return instance(FundOut).dump(fund), 201, {"Location": f"/api/v1/funds/{fund.id}"}

    @bp.get("/funds")
    @require(*READERS)
    @doc(response=FundListOut, tags=["funds"])
    def list_funds():
        """Funds with their balances; filter by ``year`` and ``source``."""
        query = select(Fund)
        if request.args.get("year"):
            query = query.where(Fund.year == _int_arg("year"))
        if request.args.get("source"):
            query = query.where(Fund.source == request.args["source"])
        with runtime.db.sessions() as session:
            return instance(FundListOut).dump({"items": session.scalars(query.order_by(Fund.year, Fund.name)).all()})

    @bp.get("/funds/<fund_id>")
    @require(*READERS)
    @doc(response=FundOut, tags=["funds"])
    def get_fund(fund_id: str):
        """One fund with its balances: allocated = available + reserved + paid + recovered."""
        with runtime.db.sessions() as session:
            fund = session.get(Fund, fund_id)
            if fund is None:
                raise ApiError(404, "not_found")
            return instance(FundOut).dump(fund)

    @bp.post("/funds/<fund_id>/allocations")
    @require(*MOVERS)
    @doc(request=AllocationIn, response=FundOut, status=201, tags=["funds"])
    def allocate_to_fund(fund_id: str):
        """Add allocated money to a fund (answering a fund request, if named); payouts awaiting
        funds are paid from it at once, oldest first."""
        body = load_json(AllocationIn)
        actor = current_principal().subject

        def work(uow):
            fund = _locked(uow, Fund, fund_id)
            funds.allocate(uow, fund, body["amount_fen"], reference=body["reference"],
                           fund_request_id=body["fund_request_id"], actor=actor)
            resumed = [p.id for p in payouts.resume_waiting(uow, ctx)]

            def answer():
                if resumed:  # paid before answering, as far as the bank answers at once
                    with runtime.db.sessions() as session:
                        ids = session.scalars(select(Instruction.id).where(Instruction.payout_id.in_(resumed),
                                                                           Instruction.status == "pending")).all()
                    send_now(ctx, list(ids))
                with runtime.db.sessions() as session:
                    return instance(FundOut).dump(session.get(Fund, fund_id)), 201
            return answer

        return once(runtime.unit_of_work, work)

    @bp.post("/fund-requests")
    @require(*MOVERS)
    @doc(request=FundRequestIn, response=FundRequestOut, status=201, tags=["funds"])
    def request_funds():
        """Ask for money (资金申请); without an amount, for what waiting payouts lack. A request for
        the finance bureau's budget is sent to the finance bureau."""
        body = load_json(FundRequestIn)
        actor = current_principal().subject

        def work(uow):
            made = funds.request_funds(uow, year=body["year"], source=body["source"], amount_fen=body["amount_fen"],
                                       reason=body["reason"], actor=actor)
            return lambda: (instance(FundRequestOut).dump(made), 201)

        return once(runtime.unit_of_work, work)

    @bp.get("/fund-requests")
    @require(*READERS)
    @doc(response=FundRequestListOut, tags=["funds"])
    def list_fund_requests():
        """Fund requests, newest first; filter by ``status`` (open, answered)."""
        query = select(FundRequest)
        if request.args.get("status"):
            query = query.where(FundRequest.status == request.args["status"])
        with runtime.db.sessions() as session:
            items = session.scalars(query.order_by(FundRequest.requested_at.desc())).all()
            return instance(FundRequestListOut).dump({"items": items})

    return bp


def payouts_blueprint(runtime) -> Blueprint:
    bp = Blueprint("payouts", __name__, url_prefix="/api/v1")
    answer_refusals(bp, Refused)
    ctx = context(runtime.db)

    @bp.get("/payouts")
    @require(*READERS)
    @doc(response=PayoutListOut, tags=["payouts"])
    def list_payouts():
        """Payouts, newest first; filter by ``case_id``, ``status`` and ``decision_id``."""
        limit, offset = page()
        query = select(Payout)
        for name in ("case_id", "status", "decision_id"):
            if request.args.get(name):
                query = query.where(getattr(Payout, name) == request.args[name])
        with runtime.db.sessions() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery()))
            items = session.scalars(query.order_by(Payout.approved_at.desc(), Payout.id)
                                    .limit(limit).offset(offset)).all()
            return instance(PayoutListOut).dump({"items": items, "total": total})

    @bp.get("/payouts/<payout_id>")
    @require(*READERS)
    @doc(response=PayoutOut, tags=["payouts"])
    def get_payout(payout_id: str):
        """One payout."""
        with runtime.db.sessions() as session:
            payout = session.get(Payout, payout_id)
            if payout is None:
                raise ApiError(404, "not_found")
            return instance(PayoutOut).dump(payout)

    @bp.post("/disbursements")
    @require(*MOVERS)
    @doc(request=DisbursementIn, response=DisbursementOut, status=201, tags=["payouts"])
    def disburse():
        """Pay one beneficiary of an approved decision: by bank transfer to the account given, in
        cash against the signed receipt, or into escrow with instalments to a minor's guardian.

        The amount (or the schedule's sum) must be the approved amount still to pay. A bank
        transfer due today is sent at once; the answer shows what the bank said."""
        body = load_json(DisbursementIn)
        principal = current_principal()

        def work(uow):
            payout = _approved_payout(uow, body["decision_id"], body["beneficiary_id"])
            made, warnings = instruct(uow, ctx, payout, body, principal.subject)
            ids, payout_id = [i.id for i in made], payout.id

            def answer():
                send_now(ctx, ids)
                with runtime.db.sessions() as session:
                    made_now = session.scalars(select(Instruction).where(Instruction.id.in_(ids))
                                               .order_by(Instruction.instalment)).all()
                    view = [instruction_view(i, principal.roles, ctx.vault) for i in made_now]
                    return instance(DisbursementOut).dump({"payout": session.get(Payout, payout_id), "instructions": view,
                                                   "warnings": warnings}), 201
            return answer

        try:
            return once(runtime.unit_of_work, work)
        except VaultError:
            raise ApiError(503, "payee_key_missing") from None

    @bp.post("/payouts/<payout_id>/cancel")
    @require(*MOVERS)
    @doc(request=CancelIn, response=PayoutOut, tags=["payouts"])
    def cancel_payout(payout_id: str):
        """Cancel a payout before any of its money is paid; money held for it goes back to its fund."""
        body = load_json(CancelIn)
        actor = current_principal().subject

        def work(uow):
            payout = _locked(uow, Payout, payout_id)
            payouts.cancel(uow, ctx, payout, body["reason"], actor)
            return lambda: (instance(PayoutOut).dump(payout), 200)

        return once(runtime.unit_of_work, work)

    @bp.post("/payouts/<payout_id>/recoveries")
    @require(*MOVERS)
    @doc(request=RecoveryIn, response=RecoveryOut, status=201, tags=["payouts"])
    def recover(payout_id: str):
        """Record money recovered (追回) for a payout, from the beneficiary or the liable party."""
        body = load_json(RecoveryIn)
        actor = current_principal().subject

        def work(uow):
            payout = _locked(uow, Payout, payout_id)
            made = payouts.recover(uow, payout, amount_fen=body["amount_fen"], reason=body["reason"],
                                   reference=body["reference"], recovered_on=body["recovered_on"], actor=actor)
            return lambda: (instance(RecoveryOut).dump(made), 201)

        return once(runtime.unit_of_work, work)

    @bp.post("/payouts/<payout_id>/notifications")
    @require(*MOVERS)
    @doc(request=NotificationIn, response=NotificationOut, status=201, tags=["payouts"])
    def notify(payout_id: str):
        """Record that the applicant was notified, how and when."""
        body = load_json(NotificationIn)
        actor = current_principal().subject

        def work(uow):
            payout = _locked(uow, Payout, payout_id)
            made = payouts.notify(uow, payout, channel=body["channel"], notified_at=body["notified_at"],
                                  note=body["note"], actor=actor)
            return lambda: (instance(NotificationOut).dump(made), 201)

        return once(runtime.unit_of_work, work)

    @bp.post("/payouts/<payout_id>/paperwork")
    @require(*MOVERS)
    @doc(request=PaperworkIn, response=PaperworkOut, tags=["payouts"])
    def complete_paperwork(payout_id: str):
        """An advance payment's (先行救助) paperwork is complete: reconcile it with the final amount;
        what was paid beyond it is to be recovered."""
        body = load_json(PaperworkIn)
        actor = current_principal().subject

        def work(uow):
            payout = _locked(uow, Payout, payout_id)
            to_recover = payouts.complete_paperwork(uow, payout, final_amount_fen=body["final_amount_fen"],
                                                    actor=actor)
            return lambda: (instance(PaperworkOut).dump({"payout": payout, "to_recover_fen": to_recover}), 200)

        return once(runtime.unit_of_work, work)

    return bp


def _approved_payout(uow, decision_id: str, beneficiary_id: str) -> Payout:
    decision = uow.session.get(Decision, decision_id)
    if decision is None:
        raise ApiError(422, "validation_failed", {"decision_id": ["unknown_decision"]})
    if decision.outcome != "approved":
        raise ApiError(422, "validation_failed", {"decision_id": ["decision_not_approved"]})
    payout = uow.session.scalars(funds.lock(uow, select(Payout).where(Payout.decision_id == decision_id,
                                                                      Payout.beneficiary_id == beneficiary_id))).first()
    if payout is None:
        raise ApiError(422, "validation_failed", {"beneficiary_id": ["not_in_decision"]})
    return payout


def _int_arg(name: str) -> int:
    try:
        return int(request.args[name])
    except ValueError:
        raise ApiError(400, "validation_failed", {name: ["invalid"]}) from None


def reports_blueprint(runtime) -> Blueprint:
    bp = Blueprint("reports", __name__, url_prefix="/api/v1")
    answer_refusals(bp, Refused)
    ctx = context(runtime.db)

    @bp.get("/cases/<case_id>/dossier")
    @require(*READERS)
    @doc(response=DossierOut, tags=["reports"])
    def dossier(case_id: str):
        """The case's money dossier (卷宗): decisions, payouts, instructions, bank answers,
        receipts, notifications, recoveries, ledger lines, clocks and the trail of who did what.
        Payees' names and accounts are masked except for finance officers."""
        roles = current_principal().roles
        try:
            with runtime.db.sessions() as session:
                found = build_dossier(session, case_id, roles=roles, vault=lambda: ctx.vault, clocks=ctx.clocks)
                if found is None:
                    raise ApiError(404, "not_found")
                return instance(DossierOut).dump(found)
        except VaultError:
            raise ApiError(503, "payee_key_missing") from None

    @bp.get("/ledger")
    @require(*READERS)
    @doc(response=LedgerOut, tags=["reports"])
    def ledger():
        """The ledger (台账) from ``from`` to ``to`` (dates, Beijing time, both included), of one
        ``fund_id`` or all, with totals per month and fund and the funds' opening and closing
        balances; ``format`` is ``json`` (default), ``csv`` or ``xlsx``."""
        kind = request.args.get("format", "json")
        if kind not in ("json", "csv", "xlsx"):
            raise ApiError(400, "validation_failed", {"format": ["one_of"]})
        start, end = _date_arg("from"), _date_arg("to")
        with runtime.db.sessions() as session:
            report = ledger_report(session, start=start, end=end, fund_id=request.args.get("fund_id"))
        if kind == "json":
            return {"lines": instance(LedgerLineOut, many=True).dump(report["lines"]), "periods": report["periods"],
                    "totals": report["totals"]}
        lang = pick_language(request.headers.get("Accept-Language"))
        name = f"ledger-{start or 'start'}-{end or 'now'}.{kind}"
        if kind == "csv":
            return Response(ledger_csv(report, lang), mimetype="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return Response(ledger_xlsx(report, lang),
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @bp.get("/reconciliation")
    @require(*READERS)
    @doc(response=ReconciliationOut, tags=["reports"])
    def reconcile():
        """Approved vs reserved vs paid vs recovered, per fund and month from ``from`` to ``to``;
        ``balanced`` is false, with the problems named, if anything does not add up."""
        with runtime.db.sessions() as session:
            report = reconciliation(session, start=_date_arg("from"), end=_date_arg("to"))
        return instance(ReconciliationOut).dump(report)

    return bp
