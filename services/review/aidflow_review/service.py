"""Review: eligibility, amount and decision for each case.

Handles: intake.case.opened (opens a review).
Emits:   review.review.opened, review.decision.recorded.
"""
from aidflow_review.api import reviews_blueprint
from aidflow_review.decisions import open_review
from aidflow_review.orm import Base
from aidflow_shared.contracts.catalogue import CASE_OPENED, DECISION_RECORDED, REVIEW_OPENED
from aidflow_shared.service import Service

service = Service("review", metadata=Base.metadata, migrations="aidflow_review:migrations",
                  title="aidflow review", emits=[REVIEW_OPENED, DECISION_RECORDED])


@service.handles(CASE_OPENED)
def case_opened(event, uow):
    open_review(uow, event.data)


@service.api
def blueprints(runtime):
    return [reviews_blueprint(runtime)]
