"""Payout's published figures for a period: money paid and recovered (from the ledger report of
:mod:`aidflow_payout.reports`), the beneficiaries and cases paid, by method and kind, and the
payout-stage deadline.

Served at ``GET /api/v1/reports/summary``; aggregates only (see :mod:`aidflow_shared.reporting`).
"""
from __future__ import annotations

from marshmallow import fields
from sqlalchemy import distinct, func, select

from aidflow_payout.orm import LedgerLine, Payout
from aidflow_payout.reports import ledger_report
from aidflow_shared.reporting import Period, SummaryOut, counts, summary_blueprint


class PayoutSummaryOut(SummaryOut):
    paid_fen = fields.Integer(metadata={"description": "disbursed in the period, in fen (the ledger's disbursements)"})
    recovered_fen = fields.Integer(metadata={"description": "recovered in the period, in fen"})
    net_paid_fen = fields.Integer()
    approved_fen = fields.Integer(metadata={"description": "payouts approved in the period, in fen"})
    beneficiaries_paid = fields.Integer()
    cases_paid = fields.Integer()
    payouts_paid = fields.Dict(keys=fields.String(), values=fields.Integer(),
                               metadata={"description": "payouts with money out in the period: total, by method "
                                                        "and the advance payments (先行救助)"})


def figures(session, period: Period) -> dict:
    totals = ledger_report(session, start=period.since, end=period.until, fund_id=None)["totals"]
    paid = sum(total["disbursement"] for total in totals)
    recovered = sum(total["recovery"] for total in totals)
    out = (select(Payout.id, Payout.method, Payout.kind, Payout.beneficiary_id, Payout.case_id)
           .join(LedgerLine, LedgerLine.payout_id == Payout.id)
           .where(LedgerLine.kind == "disbursement", *period.within(LedgerLine.at)).distinct().subquery())
    by_method = counts(session, select(out.c.method, func.count()).group_by(out.c.method))
    advance = session.scalar(select(func.count()).select_from(out).where(out.c.kind == "advance"))
    return {
        "paid_fen": paid, "recovered_fen": recovered, "net_paid_fen": paid - recovered,
        "approved_fen": session.scalar(select(func.coalesce(func.sum(Payout.amount_fen), 0))
                                       .where(*period.within(Payout.approved_at))),
        "beneficiaries_paid": session.scalar(select(func.count(distinct(out.c.beneficiary_id)))),
        "cases_paid": session.scalar(select(func.count(distinct(out.c.case_id)))),
        "payouts_paid": {"total": sum(by_method.values()), **by_method, "advance": advance},
    }


def blueprint(runtime):
    return summary_blueprint(runtime, figures, PayoutSummaryOut, stages=("payout",),
                             description="Money paid and recovered in fen (from the ledger), payouts approved, "
                                         "beneficiaries and cases paid, payouts by method and advance payments, and "
                                         "the payout deadline met or missed.")
