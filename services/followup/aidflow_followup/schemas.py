"""What follow-up's API returns."""
from marshmallow import fields

from aidflow_shared.schema import BaseSchema


class PlanOut(BaseSchema):
    plan_id = fields.String(attribute="id")
    case_id = fields.String()
    beneficiary_id = fields.String()
    payout_id = fields.String()
    status = fields.String()
    opened_at = fields.DateTime(format="iso")


class PlanListOut(BaseSchema):
    items = fields.List(fields.Nested(PlanOut))
    total = fields.Integer()
