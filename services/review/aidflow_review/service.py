"""Review: eligibility, amount and decision for each case.

Handles: intake.case.opened (a review waits for the case's acceptance),
         intake.case.accepted (受理: the review opens, its clock runs).
Emits:   review.review.opened, review.decision.recorded (once a proposal's approvals are complete,
         or an advance payment is approved), review.deadline.breached (once per overdue review).
"""
from marshmallow import EXCLUDE

from aidflow_review import reporting
from aidflow_review.api import reviews_blueprint
from aidflow_review.decisions import open_review, register_review
from aidflow_review.orm import Base
from aidflow_review.proposals import ReviewRules
from aidflow_shared.contracts.catalogue import CASE_ACCEPTED, CASE_OPENED, DECISION_RECORDED, REVIEW_OPENED
from aidflow_shared.contracts.review import REVIEW_DEADLINE_BREACHED
from aidflow_shared.service import Service

service = Service("review", metadata=Base.metadata, migrations="aidflow_review:migrations",
                  title="aidflow review", emits=[REVIEW_OPENED, DECISION_RECORDED], breach=REVIEW_DEADLINE_BREACHED)


@service.setup
def wire(runtime):
    # Fails at start, naming the setting, when the wage table or the approval thresholds are unusable.
    runtime.review_rules = ReviewRules.from_settings(runtime.settings)


@service.handles(CASE_OPENED)
def case_opened(event, uow):
    register_review(uow, event.data)


@service.handles(CASE_ACCEPTED)
def case_accepted(event, uow):
    # Read tolerantly, like the envelope check: a field added to v1 later is no reason to fail.
    open_review(uow, CASE_ACCEPTED.schema(unknown=EXCLUDE).load(event.data))


@service.api
def blueprints(runtime):
    return [reviews_blueprint(runtime), reporting.blueprint(runtime)]
