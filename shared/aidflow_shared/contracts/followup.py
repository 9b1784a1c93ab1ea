"""Messages follow-up publishes."""
from marshmallow import fields

from aidflow_shared.contracts import EVENTS, registry
from aidflow_shared.schema import BaseSchema


class PlanOpened(BaseSchema):
    plan_id = fields.String(required=True)
    case_id = fields.String(required=True)
    beneficiary_id = fields.String(required=True)
    opened_at = fields.DateTime(required=True, format="iso")


PLAN_OPENED = registry.register(
    "org.aidflow.followup.plan.opened.v1", PlanOpened, exchange=EVENTS, producer="followup",
    consumers=("intake",), summary="A follow-up (aid + assistance) plan opened for a beneficiary.")
