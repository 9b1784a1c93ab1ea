"""Payout: funds, disbursement and the ledger (台账).

Handles: review.decision.recorded (approved decisions become payouts).
Emits:   payout.disbursed.
"""
from aidflow_payout.api import payout_blueprint
from aidflow_payout.money import create_payouts
from aidflow_payout.orm import Base
from aidflow_shared.contracts.catalogue import DECISION_RECORDED, PAYOUT_DISBURSED
from aidflow_shared.service import Service

service = Service("payout", metadata=Base.metadata, migrations="aidflow_payout:migrations",
                  title="aidflow payout", emits=[PAYOUT_DISBURSED])


@service.handles(DECISION_RECORDED)
def decision_recorded(event, uow):
    if event.data["outcome"] == "approved":
        create_payouts(uow, event.data)


@service.api
def blueprints(runtime):
    return [payout_blueprint(runtime)]
