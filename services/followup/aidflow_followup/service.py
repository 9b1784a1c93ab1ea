"""Follow-up: aid + assistance that lasts (救助+帮扶), closed-loop hand-offs to partner agencies.

Handles: intake.case.accepted (what the case and its beneficiaries are: minor, poverty markers);
         payout.disbursed (a plan opens, or the payout is noted on the plan an advance opened);
         review.decision.recorded (an approved advance payment, 先行救助, opens the plans at once);
         partner.handoff.accepted / in-service / completed / declined (agencies' answers, on aidflow.inbound);
         intake.rereferral.answered (the new case for a family back in hardship, or why not).
Emits:   followup.plan.opened, followup.case.closed, followup.case.reopened,
         followup.rereferral.requested (to intake);
         followup.handoff.requested / recorded / refused / withdrawn / overdue (to agencies, on aidflow.partners).
Worker:  "sweep": visits falling due start their clocks; hand-offs and visits past their deadline
         are escalated.
"""
from marshmallow import EXCLUDE

from aidflow_followup import messages  # noqa: F401 - registers follow-up's error texts
from aidflow_followup import reporting
from aidflow_followup.api import handoffs_blueprint, plans_blueprint, reports_blueprint
from aidflow_followup.bootstrap import context, wire
from aidflow_followup.escalation import run as run_sweep
from aidflow_followup.handoffs import handle_partner_answer
from aidflow_followup.orm import Base
from aidflow_followup.plans import learn_and_assess, open_plan
from aidflow_followup.rereferrals import record_answer as record_rereferral_answer
from aidflow_shared.contracts.catalogue import CASE_ACCEPTED, DECISION_RECORDED, PAYOUT_DISBURSED
from aidflow_shared.contracts.followup import (CASE_CLOSED, CASE_REOPENED, HANDOFF_ACCEPTED, HANDOFF_COMPLETED,
                                               HANDOFF_DECLINED, HANDOFF_IN_SERVICE, HANDOFF_OVERDUE,
                                               HANDOFF_RECORDED, HANDOFF_REFUSED, HANDOFF_REQUESTED,
                                               HANDOFF_WITHDRAWN, PLAN_OPENED, REREFERRAL_ANSWERED,
                                               REREFERRAL_REQUESTED)
from aidflow_shared.service import Service

service = Service("followup", metadata=Base.metadata, migrations="aidflow_followup:migrations",
                  title="aidflow follow-up",
                  emits=[PLAN_OPENED, CASE_CLOSED, CASE_REOPENED, REREFERRAL_REQUESTED, HANDOFF_REQUESTED,
                         HANDOFF_RECORDED, HANDOFF_REFUSED, HANDOFF_WITHDRAWN, HANDOFF_OVERDUE])
service.setup(wire)


@service.handles(CASE_ACCEPTED)
def case_accepted(event, uow):
    learn_and_assess(uow, CASE_ACCEPTED.schema(unknown=EXCLUDE).load(event.data))


@service.handles(PAYOUT_DISBURSED)
def payout_disbursed(event, uow):
    open_plan(uow, context(uow.db), case_id=event.data["case_id"], beneficiary_id=event.data["beneficiary_id"],
              payout_id=event.data["payout_id"])


@service.handles(DECISION_RECORDED)
def decision_recorded(event, uow):
    # Review flags an advance payment (先行救助) with ``advance: true``, an additive field.
    if event.data["outcome"] != "approved" or event.data.get("advance") is not True:
        return  # other plans open when the money is paid
    for award in event.data["awards"]:
        open_plan(uow, context(uow.db), case_id=event.data["case_id"], beneficiary_id=award["beneficiary_id"],
                  decision_id=event.data["decision_id"], opened_on="advance")


@service.handles(HANDOFF_ACCEPTED)
def handoff_accepted(event, uow):
    handle_partner_answer(uow, context(uow.db), event, "accepted")


@service.handles(HANDOFF_IN_SERVICE)
def handoff_in_service(event, uow):
    handle_partner_answer(uow, context(uow.db), event, "in-service")


@service.handles(HANDOFF_COMPLETED)
def handoff_completed(event, uow):
    handle_partner_answer(uow, context(uow.db), event, "completed")


@service.handles(HANDOFF_DECLINED)
def handoff_declined(event, uow):
    handle_partner_answer(uow, context(uow.db), event, "declined")


@service.handles(REREFERRAL_ANSWERED)
def rereferral_answered(event, uow):
    record_rereferral_answer(uow, REREFERRAL_ANSWERED.schema(unknown=EXCLUDE).load(event.data))


@service.background("sweep")
def sweep(runtime, stop):
    run_sweep(context(runtime.db), stop)


@service.api
def blueprints(runtime):
    return [plans_blueprint(runtime), handoffs_blueprint(runtime), reports_blueprint(runtime),
            reporting.blueprint(runtime)]
