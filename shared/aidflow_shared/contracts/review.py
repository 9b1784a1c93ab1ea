"""Messages review publishes.

``review.decision.recorded.v1`` grew two optional fields, additively: ``advance`` (true: an advance
payment, 先行救助, approved at once with its paperwork completed later) and ``joint_aid`` (true: aid
given jointly with the superior procuratorate). Consumers that do not know them ignore them.

``review.deadline.breached.v1`` is announced once per review clock whose deadline passed before a
decision: ids, stage, track and times only, never a person.
"""
from marshmallow import fields, validate

from aidflow_shared.contracts import EVENTS, registry
from aidflow_shared.contracts.common import OUTCOMES, TRACKS, Fen
from aidflow_shared.schema import BaseSchema


class ReviewOpened(BaseSchema):
    review_id = fields.String(required=True)
    case_id = fields.String(required=True)
    track = fields.String(required=True, validate=validate.OneOf(TRACKS))
    opened_at = fields.DateTime(required=True, format="iso")


class Award(BaseSchema):
    beneficiary_id = fields.String(required=True)
    amount_fen = Fen(required=True)


class DecisionRecorded(BaseSchema):
    decision_id = fields.String(required=True)
    case_id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    awards = fields.List(fields.Nested(Award), required=True)
    total_fen = Fen(required=True)
    reason_code = fields.String(load_default=None, allow_none=True)
    decided_at = fields.DateTime(required=True, format="iso")
    advance = fields.Boolean(load_default=False)  # added in v1, optional
    joint_aid = fields.Boolean(load_default=False)  # added in v1, optional


class DeadlineBreached(BaseSchema):
    clock_id = fields.String(required=True)
    stage = fields.String(required=True, validate=validate.Equal("review"))
    track = fields.String(required=True, validate=validate.OneOf(TRACKS))
    subject_id = fields.String(required=True)  # the review
    case_id = fields.String(required=True)
    started_at = fields.DateTime(required=True, format="iso")
    due_at = fields.DateTime(required=True, format="iso")
    breached_at = fields.DateTime(required=True, format="iso")
    provisional = fields.Boolean(required=True)


REVIEW_OPENED = registry.register(
    "org.aidflow.review.review.opened.v1", ReviewOpened, exchange=EVENTS, producer="review",
    consumers=("intake",), summary="Review of a case started; its deadline clock runs.")
DECISION_RECORDED = registry.register(
    "org.aidflow.review.decision.recorded.v1", DecisionRecorded, exchange=EVENTS, producer="review",
    consumers=("payout", "intake", "followup"),
    summary="A case was approved (with awards per beneficiary) or rejected.")
REVIEW_DEADLINE_BREACHED = registry.register(
    "org.aidflow.review.deadline.breached.v1", DeadlineBreached, exchange=EVENTS, producer="review",
    consumers=("intake",), summary="A review's deadline passed before its decision; announced once per review.")
