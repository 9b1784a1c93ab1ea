"""Opening a follow-up plan when aid is paid: one per beneficiary of a case."""
from __future__ import annotations

from sqlalchemy import select

from aidflow_followup.orm import Plan
from aidflow_shared.contracts.catalogue import PLAN_OPENED
from aidflow_shared.storage import UnitOfWork, new_id, utcnow


def open_plan(uow: UnitOfWork, payout: dict) -> Plan | None:
    existing = uow.session.scalars(select(Plan).where(
        Plan.case_id == payout["case_id"], Plan.beneficiary_id == payout["beneficiary_id"])).first()
    if existing:
        return None
    now = utcnow()
    plan = Plan(id=new_id(), case_id=payout["case_id"], beneficiary_id=payout["beneficiary_id"],
                payout_id=payout["payout_id"], status="open", opened_at=now)
    uow.session.add(plan)
    uow.emit(PLAN_OPENED.type, {"plan_id": plan.id, "case_id": plan.case_id, "beneficiary_id": plan.beneficiary_id,
                                "opened_at": now}, subject=plan.case_id)
    return plan
