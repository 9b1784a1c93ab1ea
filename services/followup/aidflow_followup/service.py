"""Follow-up: aid + assistance plans that last.

Handles: payout.disbursed (opens a plan).
Emits:   followup.plan.opened.
"""
from aidflow_followup.api import plans_blueprint
from aidflow_followup.orm import Base
from aidflow_followup.plans import open_plan
from aidflow_shared.contracts.catalogue import PAYOUT_DISBURSED, PLAN_OPENED
from aidflow_shared.service import Service

service = Service("followup", metadata=Base.metadata, migrations="aidflow_followup:migrations",
                  title="aidflow follow-up", emits=[PLAN_OPENED])


@service.handles(PAYOUT_DISBURSED)
def payout_disbursed(event, uow):
    open_plan(uow, event.data)


@service.api
def blueprints(runtime):
    return [plans_blueprint(runtime)]
