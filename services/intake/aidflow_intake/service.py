"""Intake: referrals from every source become cases; intake keeps each case's progress.

Handles: review.opened, decision.recorded, payout.disbursed, plan.opened (case progress).
Emits:   intake.case.opened.
"""
from aidflow_intake.api import cases_blueprint
from aidflow_intake.cases import record_progress
from aidflow_intake.orm import Base
from aidflow_shared.contracts.catalogue import (CASE_OPENED, DECISION_RECORDED, PAYOUT_DISBURSED, PLAN_OPENED,
                                                REVIEW_OPENED)
from aidflow_shared.service import Service

service = Service("intake", metadata=Base.metadata, migrations="aidflow_intake:migrations",
                  title="aidflow intake", emits=[CASE_OPENED])


@service.handles(REVIEW_OPENED)
def review_opened(event, uow):
    record_progress(uow, event.data["case_id"], "under_review", event.type)


@service.handles(DECISION_RECORDED)
def decision_recorded(event, uow):
    record_progress(uow, event.data["case_id"], event.data["outcome"], event.type,
                    note=event.data.get("reason_code"))


@service.handles(PAYOUT_DISBURSED)
def payout_disbursed(event, uow):
    record_progress(uow, event.data["case_id"], "paid", event.type)


@service.handles(PLAN_OPENED)
def plan_opened(event, uow):
    record_progress(uow, event.data["case_id"], "in_followup", event.type)


@service.api
def blueprints(runtime):
    return [cases_blueprint(runtime)]
