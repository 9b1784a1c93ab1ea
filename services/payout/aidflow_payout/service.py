"""Payout: funds, reservations, disbursement, the ledger (台账) and the dossier (卷宗).

Handles: review.decision.recorded (an approved decision becomes a payout per award; money is held
         at once, or the payout waits for funds).
Emits:   payout.disbursed (a beneficiary's money was paid: follow-up and intake go on);
         payout.fund.requested (to the finance bureau, on aidflow.partners).
Worker:  "disbursement": sends payment orders, releases escrow instalments as they fall due, asks
         the bank about orders in doubt and books its late or repeated answers.
"""
from marshmallow import EXCLUDE

from aidflow_payout import messages  # noqa: F401 - registers payout's error texts
from aidflow_payout import reporting
from aidflow_payout.api import funds_blueprint, payouts_blueprint, reports_blueprint
from aidflow_payout.bootstrap import context, wire
from aidflow_payout.disbursement import run_worker
from aidflow_payout.orm import Base
from aidflow_payout.payouts import record_decision
from aidflow_shared.contracts.catalogue import DECISION_RECORDED, FUND_REQUESTED, PAYOUT_DISBURSED
from aidflow_shared.service import Service

service = Service("payout", metadata=Base.metadata, migrations="aidflow_payout:migrations",
                  title="aidflow payout", emits=[PAYOUT_DISBURSED, FUND_REQUESTED])
service.setup(wire)


@service.handles(DECISION_RECORDED)
def decision_recorded(event, uow):
    decision = DECISION_RECORDED.schema(unknown=EXCLUDE).load(event.data)
    # An advance (先行救助) is flagged by review with ``advance: true``, an additive field.
    decision["advance"] = event.data.get("advance") is True
    record_decision(uow, context(uow.db), decision)


@service.background("disbursement")
def disbursement(runtime, stop):
    run_worker(context(runtime.db), stop)


@service.api
def blueprints(runtime):
    return [funds_blueprint(runtime), payouts_blueprint(runtime), reports_blueprint(runtime),
            reporting.blueprint(runtime)]
