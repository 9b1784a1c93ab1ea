"""Messages review publishes."""
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


REVIEW_OPENED = registry.register(
    "org.aidflow.review.review.opened.v1", ReviewOpened, exchange=EVENTS, producer="review",
    consumers=("intake",), summary="Review of a case started; its deadline clock runs.")
DECISION_RECORDED = registry.register(
    "org.aidflow.review.decision.recorded.v1", DecisionRecorded, exchange=EVENTS, producer="review",
    consumers=("payout", "intake", "followup"),
    summary="A case was approved (with awards per beneficiary) or rejected.")
